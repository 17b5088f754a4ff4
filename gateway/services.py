"""The objects one gateway instance is built from, made once at start and passed in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from gateway.auth.tokens import TokenVerifier
from gateway.flows.consents import ConsentService
from gateway.flows.ingest import IngestService
from gateway.flows.registry import RegistryService
from gateway.keyring import Keyring
from gateway.metrics import Metrics
from gateway.mllp_server import GroupCommitter
from gateway.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    keyring: Keyring
    engine: Engine
    registry: RegistryService
    verifier: TokenVerifier
    metrics: Metrics
    consents: ConsentService
    ingest: IngestService
    committer: GroupCommitter

    @classmethod
    def build(cls, settings: Settings, keyring: Keyring, engine: Engine) -> Services:
        registry = RegistryService(engine)
        consents = ConsentService(
            engine=engine, keyring=keyring, org_exists=lambda org_id: registry.get_org(org_id) is not None
        )
        ingest = IngestService(
            engine=engine, keyring=keyring, strict_hl7=settings.hl7_strict, consents=consents
        )
        return cls(
            settings=settings,
            keyring=keyring,
            engine=engine,
            registry=registry,
            verifier=TokenVerifier(keyring=keyring, settings=settings),
            metrics=Metrics(),
            consents=consents,
            ingest=ingest,
            committer=GroupCommitter(ingest, pipelined=settings.is_sqlite),
        )
