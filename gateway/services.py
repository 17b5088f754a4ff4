"""The objects one gateway instance is built from, made once at start and passed in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from audit.cosignature import CosignerKey
from gateway.auth.tokens import TokenVerifier
from gateway.flows.audit_backlog import BacklogLimits
from gateway.flows.audit_log import AuditLog, Integrator, default_origin
from gateway.flows.audit_queries import AuditQueries
from gateway.flows.audit_witness import WitnessEndpoint, WitnessPublisher
from gateway.flows.consents import ConsentService
from gateway.flows.flags import FlagService
from gateway.flows.incidents import IncidentService
from gateway.flows.ingest import IngestService
from gateway.flows.lookup import LookupService
from gateway.flows.policy import PolicyGate
from gateway.flows.registry import RegistryService
from gateway.keyring import Keyring
from gateway.metrics import Metrics
from gateway.mllp_server import GroupCommitter
from gateway.settings import Settings
from policies.cache import CachedEngine
from policies.engine import PolicyEngine, build_engine


def policy_engine(settings: Settings) -> PolicyEngine:
    """The configured engine, compiled once, behind the decision cache.

    Raises:
        PolicyLoadError; PolicyUnavailable (OPA configured but unreachable).
    """
    engine = build_engine(
        opa_url=settings.opa_url,
        overlay_dirs=settings.policy_overlay_dirs,
        interpreters=settings.policy_interpreter_count,
    )
    if settings.decision_cache_size:
        return CachedEngine(engine, size=settings.decision_cache_size)
    return engine


def audit_log(settings: Settings, keyring: Keyring, engine: Engine) -> AuditLog:
    return AuditLog(
        engine=engine,
        keyring=keyring,
        origin=settings.audit_origin or default_origin(keyring),
        batch=settings.audit_batch,
        backlog=BacklogLimits(
            warn=settings.audit_backlog_warn,
            refuse=settings.audit_backlog_refuse,
            max_merge_delay=settings.audit_max_merge_delay,
        ),
    )


def policy_gate(settings: Settings, keyring: Keyring, engine: Engine) -> PolicyGate:
    """The policy engine with the audit log every decision is recorded in."""
    return PolicyGate(policy_engine(settings), audit_log(settings, keyring, engine))


@dataclass(frozen=True)
class Services:
    settings: Settings
    keyring: Keyring
    engine: Engine
    registry: RegistryService
    policy: PolicyGate
    verifier: TokenVerifier
    metrics: Metrics
    consents: ConsentService
    ingest: IngestService
    lookup: LookupService
    flags: FlagService
    incidents: IncidentService
    committer: GroupCommitter
    audit: AuditLog
    integrator: Integrator
    witnesses: WitnessPublisher
    audit_queries: AuditQueries

    @classmethod
    def build(cls, settings: Settings, keyring: Keyring, engine: Engine) -> Services:
        registry = RegistryService(engine)
        policy = policy_gate(settings, keyring, engine)
        consents = ConsentService(
            engine=engine,
            keyring=keyring,
            org_exists=lambda org_id: registry.get_org(org_id) is not None,
            policy=policy,
        )
        ingest = IngestService(
            engine=engine, keyring=keyring, strict_hl7=settings.hl7_strict, consents=consents, policy=policy
        )
        metrics = Metrics()
        metrics.watch_audit_log(
            pending=lambda: policy.audit.backlog(fresh=False).pending,
            oldest_pending_seconds=lambda: policy.audit.backlog(fresh=False).oldest_seconds,
            missing=lambda: policy.audit.receipts.missing,
        )
        return cls(
            settings=settings,
            keyring=keyring,
            engine=engine,
            registry=registry,
            policy=policy,
            verifier=TokenVerifier(keyring=keyring, settings=settings),
            metrics=metrics,
            consents=consents,
            ingest=ingest,
            incidents=IncidentService(engine=engine, keyring=keyring, policy=policy),
            lookup=LookupService(engine=engine, keyring=keyring, policy=policy, consents=consents),
            flags=FlagService(engine=engine, keyring=keyring, policy=policy, consents=consents),
            committer=GroupCommitter(ingest, commit_delay=settings.hl7_commit_delay_ms / 1000),
            audit=policy.audit,
            integrator=Integrator(policy.audit, settings.audit_interval),
            witnesses=WitnessPublisher(
                policy.audit,
                [WitnessEndpoint(url, CosignerKey.decode(key)) for url, key in settings.audit_witness_list],
                interval=settings.audit_witness_interval,
            ),
            audit_queries=AuditQueries(policy=policy, registry=registry),
        )
