"""Per-request context: a request id, one access-log line and metrics, by route template.

The access log and metrics name the route template (`/fhir/r4/Patient/{id}`), never the raw
path or query string: searches by name or identifier carry personal data in the URL.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.log_config import get_logger
from gateway.metrics import Metrics

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{8,64}$")

log = get_logger("gateway.access")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((REQUEST_ID_HEADER, request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope.get("method", "?")
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=route).observe(elapsed)
            log.info(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER and _SAFE_REQUEST_ID.fullmatch(value):
            return str(value.decode())
    return str(uuid.uuid4())


def _route_template(scope: Scope) -> str:
    """The matched route's template; Starlette routes (e.g. /docs) are found by endpoint."""
    route: Any = scope.get("route")
    if route is None and "endpoint" in scope and "app" in scope:
        route = next(
            (r for r in scope["app"].routes if getattr(r, "endpoint", None) is scope["endpoint"]),
            None,
        )
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
