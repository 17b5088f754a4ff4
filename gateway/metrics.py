"""Prometheus metrics, in a registry owned by one app instance (never the global default)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        self.requests = Counter(
            "cgw_http_requests",
            "HTTP requests answered, by route template (never the raw path) and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cgw_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "cgw_auth_failures",
            "Bearer tokens refused, by reason code.",
            ["reason"],
            registry=self.registry,
        )
        self.info = Gauge(
            "cgw_build_info",
            "Gateway version and database backend.",
            ["version", "database"],
            registry=self.registry,
        )

    def watch_audit_log(
        self,
        *,
        pending: Callable[[], float],
        oldest_pending_seconds: Callable[[], float],
        missing: Callable[[], float],
    ) -> None:
        """Gauges read at each scrape, for alerting on the audit log's back-pressure and reconciler."""
        Gauge(
            "cgw_audit_pending_records",
            "Audit records accepted and not yet integrated into the tree.",
            registry=self.registry,
        ).set_function(pending)
        Gauge(
            "cgw_audit_oldest_pending_seconds",
            "How long the oldest record waiting for integration has waited.",
            registry=self.registry,
        ).set_function(oldest_pending_seconds)
        Gauge(
            "cgw_audit_records_missing",
            "Records this process accepted that vanished before integration (reconciler); alert on > 0.",
            registry=self.registry,
        ).set_function(missing)

    def render(self) -> bytes:
        return generate_latest(self.registry)
