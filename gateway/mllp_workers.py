"""MLLP worker processes: several listeners share the MLLP port (SO_REUSEPORT), each with its own
database connection pool and group committer, so HL7 ingest uses more than one core.

Chosen by CGW_MLLP_WORKERS (default 1: the listener runs inside the HTTP process). With N > 1 the
HTTP process starts N workers (spawned, not forked: no inherited connections or threads), waits
until each is listening, restarts any that dies, and stops them at shutdown: each closes its
listener, drains its committer (everything accepted is committed and answered), then exits.
A worker whose parent disappears (even by kill -9) stops by itself within a second.

The kernel spreads *connections* across workers; messages on one connection stay in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event

from sqlalchemy import Engine

from gateway.bootstrap import open_runtime
from gateway.flows.audit_log import Integrator
from gateway.flows.ingest import IngestService
from gateway.flows.registry import RegistryService
from gateway.keyring import Keyring
from gateway.log_config import configure_logging, get_logger
from gateway.mllp_server import GroupCommitter, MllpServer
from gateway.services import policy_gate
from gateway.settings import Settings

STARTUP_TIMEOUT = 60.0  # seconds for a worker to import, open the database and listen
STOP_TIMEOUT = 15.0  # seconds for a worker to drain before it is killed
_PR_SET_PDEATHSIG = 1  # linux/prctl.h

log = get_logger(__name__)


def run_worker(settings: Settings, ready: Event, parent_pid: int) -> None:
    """Entry point of one worker process."""
    _terminate_with_parent()
    configure_logging(settings.log_level, json=settings.log_json)
    runtime = open_runtime(settings)
    try:
        asyncio.run(_serve(settings, runtime.engine, runtime.keyring, ready, parent_pid))
    finally:
        runtime.engine.dispose()


def _terminate_with_parent() -> None:
    """Linux: have the kernel send SIGTERM when the gateway process dies (the poll in `_serve` is
    the portable fallback)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def _serve(settings: Settings, engine: Engine, keyring: Keyring, ready: Event, parent_pid: int) -> None:
    policy = policy_gate(settings, keyring, engine)
    committer = GroupCommitter(
        IngestService(engine=engine, keyring=keyring, strict_hl7=settings.hl7_strict, policy=policy),
        commit_delay=settings.hl7_commit_delay_ms / 1000,
    )
    reconciler = Integrator(policy.audit, settings.audit_interval, integrate=False)  # its own receipts
    reconciler.start()
    await committer.start()
    server = MllpServer(
        settings=settings, registry=RegistryService(engine), committer=committer, reuse_port=True
    )
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    ready.set()
    log.info("mllp_worker_ready", port=server.port)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        if os.getppid() != parent_pid:  # the gateway process is gone: do not linger on its port
            stop.set()
    await server.stop()
    await committer.stop()
    reconciler.stop()


class WorkerPool:
    """Start, supervise and stop the MLLP worker processes."""

    def __init__(self, settings: Settings, count: int) -> None:
        self._settings = settings
        self._count = count
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[SpawnProcess] = []
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for _ in range(self._count):
            self._workers.append(await self._spawn())
        self._supervisor = asyncio.create_task(self._supervise(), name="mllp-worker-supervisor")

    async def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        for worker in self._workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: close the listener, drain, exit
        for worker in self._workers:
            await asyncio.to_thread(worker.join, STOP_TIMEOUT)
            if worker.is_alive():
                worker.kill()
                await asyncio.to_thread(worker.join, 5)

    async def _spawn(self) -> SpawnProcess:
        ready = self._context.Event()
        worker = self._context.Process(
            target=run_worker, args=(self._settings, ready, os.getpid()), name="mllp-worker", daemon=True
        )
        worker.start()
        if not await asyncio.to_thread(ready.wait, STARTUP_TIMEOUT):
            worker.kill()
            raise RuntimeError("an MLLP worker did not start listening in time")
        return worker

    async def _supervise(self) -> None:
        while not self._stopping:
            await asyncio.sleep(1.0)
            for index, worker in enumerate(self._workers):
                if not worker.is_alive() and not self._stopping:
                    log.error("mllp_worker_died", count=index)
                    self._workers[index] = await self._spawn()
