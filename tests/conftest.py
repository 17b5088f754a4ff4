"""Shared fixtures: every database test runs on SQLite and on PostgreSQL, with real parts.

- `database_url` gives each test a fresh, empty database on its backend: a file for SQLite,
  a newly created database on the PostgreSQL test server (CGW_TEST_POSTGRES_URL, set by
  `make test` / `.ci/run` through scripts/test-postgres.sh).
- `installation` is a scratch gateway install (database + keyring) driven through the real
  `consent-gateway` executable; `server` runs `consent-gateway serve` on a real socket.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gateway.bootstrap import open_keyring
from gateway.settings import load_settings
from gateway.store.database import bind_keyring, create_db_engine, upgrade
from policies.bundle import load_bundle
from policies.inprocess import RegoEngine

T = TypeVar("T")

BACKENDS = ["sqlite", "postgresql"]
POSTGRES_ENV = "CGW_TEST_POSTGRES_URL"
CLI = str(Path(sys.executable).parent / "consent-gateway")


_POLICY_ENGINE: list[RegoEngine] = []


def shared_policy_engine() -> RegoEngine:
    """One compiled in-process engine for tests that build services directly."""
    if not _POLICY_ENGINE:
        _POLICY_ENGINE.append(RegoEngine(load_bundle()))
    return _POLICY_ENGINE[0]


def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.fail(
            f"{POSTGRES_ENV} is not set: run the suite with `make test`, which starts the local "
            "PostgreSQL through scripts/test-postgres.sh"
        )
    return url


def as_postgres_superuser(database_url: str) -> str:
    """The same database as the superuser scripts/test-postgres.sh creates beside the test role."""
    url = make_url(database_url)
    return url.set(username=f"{url.username}_super", password=f"{url.password}_super").render_as_string(
        hide_password=False
    )


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as a libpq connection string for psycopg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _drop_database(admin: str, name: str) -> None:
    """DROP ... WITH (FORCE), retried: an autovacuum worker busy on the new database cannot be
    terminated by the (non-superuser) test role, so wait for it to finish instead."""
    for attempt in range(20):
        try:
            with psycopg.connect(_libpq(admin), autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.ObjectInUse):
            if attempt == 19:
                raise
            time.sleep(0.5)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on the backend under test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    admin = postgres_admin_url()
    name = f"cgw_t_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq(admin), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)


@dataclass
class Installation:
    """A scratch gateway installation driven through the real CLI executable."""

    root: Path
    database_url: str

    @property
    def keyring(self) -> Path:
        return self.root / "keyring.json"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CGW_")}
        env.update(
            CGW_DATABASE_URL=self.database_url,
            CGW_KEYRING=str(self.keyring),
            CGW_LOG_LEVEL="warning",
        )
        env.update(extra)
        return env

    def query(self, sql: str) -> list[Any]:
        """Rows of a read-only SQL query on the installation's database."""
        engine = create_db_engine(load_settings(database_url=self.database_url))
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(sql)).all())
        finally:
            engine.dispose()

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args],
            env=self.env(**env),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def admin(self, *args: str) -> str:
        """Run a CLI command in this process (typer's runner) and return its stdout.

        The same code as the executable without a Python start-up (about a second) per call, for
        fixtures that set up many orgs, clients and tokens; `cli`/`cli_ok` run the real
        executable, and tests/gateway/test_cli.py tests it.
        """
        from typer.testing import CliRunner

        from gateway.cli import app

        env = {
            "CGW_DATABASE_URL": self.database_url,
            "CGW_KEYRING": str(self.keyring),
            "CGW_LOG_LEVEL": "warning",
        }
        result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}"
        return result.stdout

    def cli_ok(self, *args: str, **env: str) -> str:
        result = self.cli(*args, **env)
        assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr}"
        return result.stdout


@pytest.fixture
def installation(database_url: str, tmp_path: Path) -> Installation:
    root = tmp_path / "install"
    root.mkdir()
    return Installation(root=root, database_url=database_url)


@pytest.fixture
def upgraded(installation: Installation) -> Installation:
    return migrate(installation)


def migrate(installation: Installation) -> Installation:
    """The installation with its schema migrated and keyring created (in-process: the real
    `db upgrade` executable is exercised by the CLI tests)."""
    settings = load_settings(database_url=installation.database_url, keyring=installation.keyring)
    engine = create_db_engine(settings)
    try:
        upgrade(engine)
        bind_keyring(engine, open_keyring(settings).keyring_id)
    finally:
        engine.dispose()
    return installation


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A port free now and not handed out before in this process (the kernel may offer the same
    one twice in a row). Another process can still take it before it is bound: `start_server`
    retries on another port then."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def race(count: int, call: Callable[[], T]) -> list[T]:
    """Run `call` from `count` threads released together; their results (for races that
    only concurrency shows, e.g. two requests with one Idempotency-Key)."""
    results: list[T] = []
    start = threading.Barrier(count)

    def run() -> None:
        start.wait(timeout=30)
        results.append(call())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[str]
    log_path: Path
    mllp_port: int

    def log(self) -> str:
        return self.log_path.read_text()


def start_server(installation: Installation, **env: str) -> Server:
    """Start `consent-gateway serve` on a free port and wait until it answers as *this* install.

    `free_port()` releases the port before `serve` binds it, so another gateway on the machine
    (a concurrent test run, or another pytest-xdist worker) can take it first: then our server
    cannot bind, or theirs answers `/healthz` and requests with our tokens fail with 401. The
    server is ours when its JWKS holds our keyring's token keys; otherwise the start is retried
    on other ports.
    """
    for _attempt in range(3):
        server = _start_once(installation, dict(env))
        if server is not None:
            return server
    raise AssertionError("three free ports in a row were taken by other servers")


def _our_token_kids(installation: Installation) -> set[str]:
    from gateway.auth.tokens import TOKEN_KEY_PURPOSE
    from gateway.keyring import load_keyring

    keyring = load_keyring(installation.keyring)
    return {key.kid for key in keyring.signing_keys if key.purpose == TOKEN_KEY_PURPOSE}


def _start_once(installation: Installation, env: dict[str, str]) -> Server | None:
    port = free_port()
    chosen_mllp_port = int(env.pop("CGW_MLLP_PORT", 0))
    mllp_port = chosen_mllp_port or free_port()
    log_path = installation.root / f"serve-{port}.log"
    with log_path.open("a") as log_file:
        process = subprocess.Popen(
            [CLI, "serve", "--port", str(port)],
            env=installation.env(**{"CGW_LOG_LEVEL": "info", **env, "CGW_MLLP_PORT": str(mllp_port)}),
            cwd=installation.root,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if "address already in use" in log_path.read_text().lower() and not chosen_mllp_port:
                return None  # a port was taken between free_port() and the bind
            raise AssertionError(f"serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        raise AssertionError(f"serve did not answer within 30 s:\n{log_path.read_text()}")
    served = {key["kid"] for key in httpx.get(f"{base_url}/.well-known/jwks.json", timeout=5).json()["keys"]}
    if served != _our_token_kids(installation):
        stop_server(Server(base_url=base_url, process=process, log_path=log_path, mllp_port=mllp_port))
        return None
    return Server(base_url=base_url, process=process, log_path=log_path, mllp_port=mllp_port)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def server(upgraded: Installation) -> Iterator[Server]:
    running = start_server(upgraded)
    try:
        yield running
    finally:
        stop_server(running)


@dataclass
class Hospital:
    """A registered hospital with a BAA, an EHR client, its bearer token and MLLP secret."""

    org_id: str
    client_id: str
    token: str
    mllp_secret: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def bearer(installation: Installation, client_id: str, subject: str, *mfa: str) -> dict[str, str]:
    """Authorization headers with a token for a registered client, acting as `subject`."""
    token = installation.admin("token", "issue", client_id, "--subject", subject, *mfa).strip()
    return {"Authorization": f"Bearer {token}"}


def add_client(
    installation: Installation, org_id: str, client_id: str, role: str, subject: str, *mfa: str
) -> dict[str, str]:
    """Register a client of `org_id` with `role`, and return a token's headers for `subject`."""
    installation.admin("client", "add", client_id, "--org", org_id, "--role", role)
    return bearer(installation, client_id, subject, *mfa)


def register_sender(
    installation: Installation,
    org_id: str = "ghh",
    *,
    org_type: str = "hospital",
    part2_program: bool = False,
    agreements: tuple[str, ...] = ("baa:2026-01-01",),
) -> Hospital:
    """Register an org, its system client, a token and an MLLP secret (in-process, fast)."""
    from gateway.auth.tokens import issue_token
    from gateway.flows.registry import RegistryService
    from gateway.keyring import load_keyring
    from gateway.registry import ApiClient, Organization, parse_agreement
    from policies.vocabulary import OrgType, Role

    settings = load_settings(database_url=installation.database_url, keyring=installation.keyring)
    engine = create_db_engine(settings)
    try:
        registry = RegistryService(engine)
        registry.register_org(
            Organization(
                org_id=org_id,
                name=f"{org_id} org",
                org_type=OrgType(org_type),
                part2_program=part2_program,
                agreements=tuple(parse_agreement(a) for a in agreements),
            )
        )
        client_id = f"{org_id}-ehr"
        registry.register_client(ApiClient(client_id=client_id, org_id=org_id, role=Role.SYSTEM))
        secret = registry.issue_mllp_secret(client_id)
    finally:
        engine.dispose()
    token = issue_token(keyring=load_keyring(installation.keyring), settings=settings, client_id=client_id)
    return Hospital(org_id=org_id, client_id=client_id, token=token, mllp_secret=secret)
