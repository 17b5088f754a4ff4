"""The composition root: `create_app(settings, runtime)` builds one gateway from its parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from gateway import __version__
from gateway.api import audit, consent, decisions, fhir, flags, hl7v2, metadata, ops, patient, police, session
from gateway.bootstrap import Runtime
from gateway.errors import install_error_handlers
from gateway.log_config import get_logger
from gateway.middleware import RequestContextMiddleware
from gateway.mllp_server import MllpServer
from gateway.mllp_workers import WorkerPool
from gateway.services import Services
from gateway.settings import Settings

log = get_logger(__name__)


def create_app(settings: Settings, runtime: Runtime) -> FastAPI:
    """Wire services, routers and error handling; no I/O happens here (the lifespan starts
    the group committer and the MLLP listener, and drains them at shutdown)."""
    services = Services.build(settings, runtime.keyring, runtime.engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Request handlers run in AnyIO's thread pool; past a few threads per core they only
        # contend for the GIL (flag pulls: 120 req/s with AnyIO's 40, 130 with 8, 139 with 4).
        to_thread.current_default_thread_limiter().total_tokens = settings.http_threads
        services.integrator.start()
        services.witnesses.start()
        await services.committer.start()
        listener: MllpServer | WorkerPool | None = None
        if settings.mllp_enabled and settings.mllp_workers > 1:
            listener = WorkerPool(settings, settings.mllp_workers)
        elif settings.mllp_enabled:
            listener = MllpServer(settings=settings, registry=services.registry, committer=services.committer)
        if listener is not None:
            try:
                await listener.start()
            except OSError as exc:  # the usual cause: the MLLP port is taken
                log.error(
                    "mllp_listen_failed", port=settings.mllp_port, reason=exc.strerror or type(exc).__name__
                )
                await services.committer.stop()
                services.integrator.stop()
                services.witnesses.stop()
                raise
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()
            await services.committer.stop()
            services.integrator.stop()  # a last integration and checkpoint after the last write
            services.witnesses.stop()  # and that checkpoint offered to the witnesses

    services.metrics.info.labels(version=__version__, database=settings.database.get_backend_name()).set(1)
    app = FastAPI(
        title="Consent Gateway",
        version=__version__,
        summary="Lawful, minimal, audited sharing for co-responder programs.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, metrics=services.metrics)
    # consent, patient and flags before fhir's POST /{type}
    for module in (ops, metadata, session, decisions, audit, consent, patient, flags, fhir, hl7v2, police):
        app.include_router(module.router)
    return app
