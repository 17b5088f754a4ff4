"""The witness the compliance office runs apart from the gateway: C2SP `tlog-witness` over HTTP.

`consent-gateway witness init DIR` makes its directory (key, configuration, state) and
`consent-gateway witness serve DIR` serves `POST /add-checkpoint`. It shares nothing with the
gateway: no database, no keyring, no token — a log it witnesses is named by its public key only.

Invariants:
- The latest cosigned checkpoint per log is on disk (written, fsynced, renamed) before the
  cosignature leaves; requests are decided one at a time under a lock on the state file, so two
  requests (or two witness processes) can never both advance from one size.
- The private key file is created 0600 and never printed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from audit.checkpoint import NoteVerifier, public_bytes, signature_lines
from audit.cosignature import CosignerKey, cosign
from audit.witness import MAX_REQUEST_BYTES, Witnessed, WitnessRefusal, check, parse_request
from gateway.log_config import get_logger

log = get_logger(__name__)

KEY_FILE = "witness.key"
CONFIG_FILE = "witness.json"
STATE_FILE = "latest.json"
LOCK_FILE = "latest.lock"
SIZE_MEDIA_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class WitnessConfig:
    name: str
    logs: dict[str, list[NoteVerifier]]  # origin -> the log's checkpoint keys


def init_witness(directory: Path, name: str, log_keys: list[str]) -> CosignerKey:
    """Create a witness directory; the witness's public key (to give the gateway) is returned.

    Raises:
        FileExistsError: the directory already holds a witness key.
        CheckpointError: a log key or the name is malformed.
    """
    verifiers = [NoteVerifier.decode(key) for key in log_keys]
    private_key = Ed25519PrivateKey.generate()
    cosigner = CosignerKey(name, public_bytes(private_key))
    cosigner.encode()  # refuses a malformed name before anything is written
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / KEY_FILE
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    (directory / CONFIG_FILE).write_text(
        json.dumps({"name": name, "logs": [v.encode() for v in verifiers]}, indent=2) + "\n"
    )
    return cosigner


def load_witness(directory: Path) -> tuple[WitnessConfig, Ed25519PrivateKey]:
    """Raises: OSError, ValueError, CheckpointError (a missing or malformed directory)."""
    config = json.loads((directory / CONFIG_FILE).read_text())
    logs: dict[str, list[NoteVerifier]] = {}
    for encoded in config["logs"]:
        verifier = NoteVerifier.decode(encoded)
        logs.setdefault(verifier.name, []).append(verifier)
    key = load_pem_private_key((directory / KEY_FILE).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the witness key is not an Ed25519 key")
    return WitnessConfig(name=str(config["name"]), logs=logs), key


class WitnessState:
    """The latest checkpoint cosigned per log, as one JSON file replaced atomically."""

    def __init__(self, directory: Path) -> None:
        self._path = directory / STATE_FILE
        self._lock_path = directory / LOCK_FILE
        self._thread_lock = threading.Lock()

    @contextmanager
    def locked(self) -> Iterator[dict[str, Witnessed]]:
        """The state, held exclusively (threads and processes) until the block ends."""
        with self._thread_lock, self._lock_path.open("a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield self._read()
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Witnessed]:
        if not self._path.exists():
            return {}
        raw = json.loads(self._path.read_text())
        return {
            origin: Witnessed(int(item["size"]), base64.b64decode(item["root"]), str(item["note"]))
            for origin, item in raw.items()
        }

    def save(self, latest: dict[str, Witnessed]) -> None:
        """Durable before it returns: a cosignature may only follow a saved state."""
        data = {
            origin: {"size": w.size, "root": base64.b64encode(w.root).decode(), "note": w.note}
            for origin, w in latest.items()
        }
        temporary = self._path.with_suffix(".tmp")
        with temporary.open("w") as state_file:
            json.dump(data, state_file, indent=1)
            state_file.flush()
            os.fsync(state_file.fileno())
        os.replace(temporary, self._path)
        directory = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class Witness:
    def __init__(
        self,
        config: WitnessConfig,
        key: Ed25519PrivateKey,
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.cosigner = CosignerKey(config.name, public_bytes(key))
        self._key = key
        self._state = state
        self._clock = clock

    def add_checkpoint(self, body: bytes) -> str:
        """The cosignature line for a consistent checkpoint.

        Raises:
            WitnessRefusal: with the status the specification gives.
        """
        request = parse_request(body)
        with self._state.locked() as latest:
            opened = check(request, self.config.logs, latest)
            checkpoint = opened.checkpoint
            held = latest.get(checkpoint.origin)
            if held is None or held.size != checkpoint.size:
                latest[checkpoint.origin] = Witnessed(checkpoint.size, checkpoint.root, request.note)
                self._state.save(latest)
            note_body, _signatures = signature_lines(request.note)
            return cosign(note_body, self.config.name, self._key, int(self._clock())).line

    def sizes(self) -> dict[str, int]:
        with self._state.locked() as latest:
            return {origin: held.size for origin, held in latest.items()}


def create_witness_app(witness: Witness) -> FastAPI:
    app = FastAPI(title="Consent Gateway audit witness", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_REQUEST_BYTES:
            return PlainTextResponse("request is too large\n", status_code=400)
        body = await request.body()
        try:
            line = await run_in_threadpool(witness.add_checkpoint, body)  # it fsyncs
        except WitnessRefusal as refusal:
            log.warning("witness_refused", status=refusal.status, reason=refusal.reason)
            if refusal.status == 409 and refusal.latest_size is not None:
                return Response(  # the exact media type: Starlette would add a charset to media_type
                    f"{refusal.latest_size}\n", status_code=409, headers={"Content-Type": SIZE_MEDIA_TYPE}
                )
            return PlainTextResponse(refusal.reason + "\n", status_code=refusal.status)
        return PlainTextResponse(line)

    @app.get("/")
    async def about() -> JSONResponse:
        return JSONResponse(
            {
                "witness": witness.config.name,
                "key": witness.cosigner.encode(),
                "logs": sorted(witness.config.logs),
                "latest_sizes": witness.sizes(),
            }
        )

    return app
