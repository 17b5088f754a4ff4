"""`consent-gateway demo`: the whole co-responder program on a fresh SQLite, in one command.

It registers a hospital, a crisis clinic that is a Part 2 program, a police department, a
co-responder team and a compliance office; starts the real gateway (HTTP and MLLP); pushes an
HL7 v2 ADT over MLLP, FHIR records and a police incident; records a consent; and walks the four
flows over HTTP exactly as their users would, printing what each party sees and, from the audit
log, why (the decision's reasons). Then it revokes the consent and shows the flags go, prints
the accounting of disclosures and verifies the audit log, and leaves the gateway running with
the tokens it issued. Everything in it is synthetic.

Invariants:
- The demo uses no back door: every step is an HTTP or MLLP request to the running gateway,
  decided by the engine and audited; only setup (registry, tokens) runs in process, as the CLI's
  `org add`, `client add` and `token issue` do.
- It only ever deletes a directory it created (marked by `.consent-gateway-demo`).
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from audit.verify import verify_bundle
from connectors.hl7v2.mllp import encode
from gateway.app import create_app
from gateway.auth.tokens import issue_token
from gateway.bootstrap import open_keyring, open_runtime
from gateway.flows.registry import RegistryService
from gateway.registry.domain import ApiClient, Organization, Personnel, parse_agreement
from gateway.remote_audit import fetch_bundle
from gateway.settings import Settings, load_settings
from gateway.store.database import bind_keyring, create_db_engine, upgrade
from policies.catalog import load_catalog
from policies.errors import PolicyLoadError
from policies.vocabulary import OrgType, Role

MARKER = ".consent-gateway-demo"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5"
RMS_SYSTEM = "urn:consent-gateway:org:pd-springfield:rms-person"
# A synthetic person: the demo's only subject.
FAMILY, GIVEN, BORN, MRN = "Rivera", "Sam", date(1988, 7, 14), "MRN-20417"


class DemoError(Exception):
    """The demo cannot run (its directory is not its own, a port is taken, a step failed)."""


@dataclass(frozen=True)
class Party:
    label: str
    headers: dict[str, str]
    token: str


def prepare(directory: Path) -> None:
    """A fresh demo directory. Raises: DemoError when the directory holds something else."""
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise DemoError(f"{directory} is not empty and not a demo directory; choose another --dir")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("created by consent-gateway demo; deleted by the next demo run\n")


def demo_settings(directory: Path, host: str, port: int, mllp_port: int) -> Settings:
    return load_settings(
        database_url=f"sqlite:///{directory / 'gateway.db'}",
        keyring=directory / "keyring.json",
        environment="development",
        host=host,
        port=port,
        mllp_port=mllp_port,
        opa_url=None,
        policy_overlays="",
    )


def register_program(settings: Settings) -> dict[str, Party]:
    """Migrate the fresh database and register the five organisations, their clients and tokens."""
    keyring = open_keyring(settings)
    engine = create_db_engine(settings)
    try:
        upgrade(engine)
        bind_keyring(engine, keyring.keyring_id)
        registry = RegistryService(engine)
        baa, qsoa, mou = "baa:2026-01-01", "qsoa:2026-01-01", "data_sharing_mou:2026-01-01"
        orgs = [  # id, name, type, Part 2 program, CJIS agency, agreements
            ("st-marys", "St Mary's Hospital", OrgType.HOSPITAL, False, False, [baa]),
            ("harbor-clinic", "Harbor Recovery Clinic", OrgType.PART2_PROGRAM, True, False, [qsoa]),
            ("pd-springfield", "Springfield Police Department", OrgType.POLICE, False, True, [mou]),
            ("co-team", "County Co-Responder Team", OrgType.CO_RESPONDER_TEAM, False, False, [baa, mou]),
            ("compliance", "County Privacy and Compliance Office", OrgType.COMPLIANCE, False, False, []),
        ]
        for org_id, name, org_type, part2, cjis, agreements in orgs:
            registry.register_org(
                Organization(
                    org_id=org_id,
                    name=name,
                    org_type=org_type,
                    part2_program=part2,
                    cjis_agency=cjis,
                    agreements=tuple(parse_agreement(a) for a in agreements),
                )
            )
        clients = [
            ("hospital", "st-marys-ehr", "st-marys", Role.SYSTEM, "ehr-interface", False),
            ("clinic", "harbor-ehr", "harbor-clinic", Role.SYSTEM, "ehr-interface", False),
            ("rms", "springfield-rms", "pd-springfield", Role.SYSTEM, "rms-interface", True),
            ("officer", "springfield-cad", "pd-springfield", Role.OFFICER, "officer.okafor", True),
            ("clinician", "co-team-app", "co-team", Role.CORESPONDER_CLINICIAN, "clin.nguyen", True),
            ("compliance", "compliance-app", "compliance", Role.COMPLIANCE_OFFICER, "privacy.officer", True),
        ]
        parties: dict[str, Party] = {}
        for label, client_id, org_id, role, subject, mfa in clients:
            registry.register_client(ApiClient(client_id=client_id, org_id=org_id, role=role))
            token = issue_token(
                keyring=keyring,
                settings=settings,
                client_id=client_id,
                subject=subject,
                mfa=mfa,
                ttl=8 * 3600,
            )
            parties[label] = Party(label=client_id, headers={"Authorization": f"Bearer {token}"}, token=token)
        today = datetime.now(UTC).date()
        for subject, org_id in (("rms-interface", "pd-springfield"), ("clin.nguyen", "co-team")):
            registry.set_personnel(
                Personnel(
                    subject=subject,
                    org_id=org_id,
                    addendum_signed_on=today - timedelta(days=200),
                    training_completed_on=today - timedelta(days=30),
                    background_check_on=today - timedelta(days=300),
                )
            )
        secret = registry.issue_mllp_secret("st-marys-ehr")
        parties["hospital-mllp"] = Party(label="st-marys-ehr", headers={}, token=secret)
    finally:
        engine.dispose()
    return parties


class RunningGateway:
    """The real gateway app under uvicorn, in a thread of this process."""

    def __init__(self, settings: Settings) -> None:
        runtime = open_runtime(settings)
        self.runtime = runtime
        config = uvicorn.Config(
            create_app(settings, runtime),
            host=settings.host,
            port=settings.port,
            access_log=False,
            log_config=None,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="gateway", daemon=True)
        self.base_url = f"http://{settings.host}:{settings.port}"

    def start(self, timeout: float = 30) -> None:
        """Raises: DemoError when the gateway does not come up (a port taken, usually)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server.started:
                return
            if not self._thread.is_alive():
                raise DemoError("the gateway did not start: is the HTTP or MLLP port already in use?")
            time.sleep(0.05)
        raise DemoError("the gateway did not start in time")

    def wait(self) -> None:
        while self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)
        self.runtime.engine.dispose()


class Walkthrough:
    """The four flows, as requests, with what each party sees and why."""

    def __init__(
        self, base_url: str, mllp: tuple[str, int], parties: dict[str, Party], out: Callable[[str], None]
    ) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.mllp = mllp
        self.parties = parties
        self.out = out
        self.catalog = load_catalog()
        self.person_id: str | None = None

    # --- output ---------------------------------------------------------------------------

    def step(self, title: str) -> None:
        self.out(f"\n== {title}")

    def said(self, who: str, text: str) -> None:
        self.out(f"   {who}: {text}")

    def why(self, request_id: str | None) -> None:
        """The decision behind a request, read back from the audit log as compliance would."""
        for record in self.records(request_id):
            reasons = "; ".join(self.reason(code) for code in record["reasons"])
            self.out(f"   why: {record['action']} {record['decision']} ({record['outcome']}) - {reasons}")

    def reason(self, code: str) -> str:
        try:
            return f"{code} [{self.catalog.reason(code).citation}]"
        except PolicyLoadError:  # an overlay's own code
            return code

    def records(self, request_id: str | None, timeout: float = 10) -> list[dict[str, Any]]:
        if request_id is None:
            return []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = self.http.get("/audit/entries", params={"limit": 500}, headers=self.compliance)
            answer.raise_for_status()
            found = [
                e["record"] for e in answer.json()["entries"] if e["record"].get("request_id") == request_id
            ]
            if found:
                return found
            time.sleep(0.3)  # the integrator appends pending records every CGW_AUDIT_INTERVAL
        return []

    @property
    def compliance(self) -> dict[str, str]:
        return {**self.parties["compliance"].headers, "X-Purpose-Of-Use": "HOVERSIGHT"}

    # --- the program ------------------------------------------------------------------------

    def run(self) -> None:
        self.push_hl7_over_mllp()
        self.push_fhir_bundle()
        self.push_part2_encounter()
        self.push_incident()
        self.pull_flags("before any consent")
        consent_id = self.record_consent()
        self.pull_flags("with the consent")
        self.clinician_lookup()
        self.revoke(consent_id)
        self.pull_flags("after the revocation")
        self.accounting()
        self.verify_log()

    def push_hl7_over_mllp(self) -> None:
        self.step("St Mary's Hospital sends an ED crisis visit: HL7 v2 ADT^A01 over MLLP")
        when = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y%m%d%H%M%S")
        secret = self.parties["hospital-mllp"].token
        message = "\r".join(
            [
                f"MSH|^~\\&|EPIC|STMARYS|GATEWAY|COUNTY|{when}|{secret}|ADT^A01^ADT_A01|DEMO-0001|P|2.5.1",
                f"EVN|A01|{when}",
                f"PID|1||{MRN}^^^STMARYS&2.16.840.1.113883.19.5&ISO^MR||{FAMILY}^{GIVEN}||{BORN:%Y%m%d}|M",
                "PV1|1|E|ED^01^1|||||||CRS",
            ]
        )
        with socket.create_connection(self.mllp, timeout=30) as connection:
            connection.sendall(encode(message.encode()))
            reply = b""
            while not reply.endswith(b"\x1c\r"):
                chunk = connection.recv(4096)
                if not chunk:
                    break
                reply += chunk
        ack = reply.strip(b"\x0b\x1c\r").decode(errors="replace")
        msa = next((segment for segment in ack.split("\r") if segment.startswith("MSA")), ack)
        self.said("hospital interface engine gets", msa)

    def push_fhir_bundle(self) -> None:
        self.step("St Mary's pushes a crisis plan and the care team: a FHIR R4 transaction Bundle")
        subject = {"identifier": {"system": MRN_SYSTEM, "value": MRN}}
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                    "request": {"method": "POST", "url": "CarePlan"},
                    "resource": {
                        "resourceType": "CarePlan",
                        "status": "active",
                        "intent": "plan",
                        "title": "Crisis and de-escalation plan",
                        "subject": subject,
                        "period": {"start": (date.today() - timedelta(days=20)).isoformat()},
                    },
                },
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                    "request": {"method": "POST", "url": "CareTeam"},
                    "resource": {
                        "resourceType": "CareTeam",
                        "status": "active",
                        "name": "Springfield Community Support Team",
                        "subject": subject,
                        "telecom": [{"system": "phone", "value": "555-0100"}],
                    },
                },
            ],
        }
        answer = self.post("/fhir/r4", "hospital", bundle)
        statuses = [entry["response"]["status"] for entry in answer.json().get("entry", [])]
        self.said("hospital EHR gets", f"HTTP {answer.status_code} transaction-response {statuses}")
        self.why(answer.headers.get("x-request-id"))

    def push_part2_encounter(self) -> None:
        self.step("Harbor Recovery Clinic (a 42 CFR Part 2 program) pushes a crisis encounter")
        encounter = {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "serviceType": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/service-type", "code": "67"}]
            },
            "subject": {"identifier": {"system": MRN_SYSTEM, "value": MRN}},
            "period": {"start": (datetime.now(UTC) - timedelta(days=5)).isoformat(timespec="seconds")},
        }
        answer = self.post("/fhir/r4/Encounter", "clinic", encounter)
        self.said("clinic EHR gets", f"HTTP {answer.status_code}; stored as part2 whatever it says")
        self.why(answer.headers.get("x-request-id"))

    def push_incident(self) -> None:
        self.step("Springfield PD's RMS pushes last night's welfare-check incident (CJI)")
        incident = {
            "incident_id": "SPD-2026-118842",
            "nature_code": "MENTAL",
            "occurred_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds"),
            "location": {"address": "400 Synthetic Ave", "city": "Springfield", "state": "IL"},
            "involved_persons": [
                {
                    "role": "subject",
                    "identifiers": [{"system": RMS_SYSTEM, "value": "P-77120"}],
                    "name": {"family": FAMILY, "given": GIVEN},
                    "birth_date": BORN.isoformat(),
                    "sex": "M",
                }
            ],
            "narrative": "Synthetic narrative: neighbour called about a person in distress.",
        }
        answer = self.post("/police/incidents", "rms", incident, content_type="application/json")
        self.said("police RMS gets", f"HTTP {answer.status_code} {answer.text}")
        self.why(answer.headers.get("x-request-id"))

    def pull_flags(self, when: str) -> None:
        self.step(f"An officer's CAD asks what it may know before the call, {when}")
        answer = self.http.get(
            "/fhir/r4/Flag",
            params={"family": FAMILY, "given": GIVEN, "birthdate": BORN.isoformat()},
            headers=self.parties["officer"].headers,
        )
        bundle = answer.json()
        flags = [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == "Flag"]
        if not flags:
            self.said("officer sees", f"HTTP {answer.status_code}, an empty searchset Bundle (no hint why)")
        for flag in flags:
            self.person_id = flag["subject"]["reference"].removeprefix("Patient/")
            self.said("officer sees", f"[{flag['code']['coding'][0]['code']}] {flag['code']['text']}")
        if bundle.get("meta"):
            self.said("officer sees", "the 42 CFR 2.32 notice attached (a flag rests on Part 2 data)")
        self.why(answer.headers.get("x-request-id"))

    def record_consent(self) -> str:
        self.step("Sam signs a consent at the clinic: flags to police and the co-responder team")
        consent = json.loads((Path(__file__).parent / "demo_consent.json").read_text())
        consent["patient"]["identifier"]["value"] = MRN
        consent["dateTime"] = datetime.now(UTC).isoformat(timespec="seconds")
        consent["provision"]["period"] = {
            "start": date.today().isoformat(),
            "end": (date.today() + timedelta(days=365)).isoformat(),
        }
        answer = self.post("/fhir/r4/Consent", "clinic", consent)
        self.said("clinic gets", f"HTTP {answer.status_code} Consent/{answer.json().get('id')}")
        self.why(answer.headers.get("x-request-id"))
        return str(answer.json()["id"])

    def clinician_lookup(self) -> None:
        self.step("The co-responder clinician looks up context on the way (CJIS-cleared, MFA)")
        answer = self.http.get(
            "/fhir/r4/Patient/$summary",
            params={"identifier": f"{MRN_SYSTEM}|{MRN}"},
            headers={**self.parties["clinician"].headers, "X-Purpose-Of-Use": "COC"},
        )
        bundle = answer.json()
        kinds = sorted(e["resource"]["resourceType"] for e in bundle.get("entry", []))
        self.said("clinician sees", f"HTTP {answer.status_code}: {', '.join(kinds) or 'nothing'}")
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            if resource["resourceType"] == "Basic":
                nature = next(x["valueCode"] for x in resource["extension"] if x["url"].endswith("nature"))
                self.said("clinician sees", f"police incident: nature {nature}, {resource.get('created')}")
            if resource["resourceType"] == "DocumentReference":
                self.said("clinician sees", f"42 CFR 2.32 notice: {resource['description']}")
        self.why(answer.headers.get("x-request-id"))

    def revoke(self, consent_id: str) -> None:
        self.step("Sam revokes the consent")
        answer = self.post(
            f"/fhir/r4/Consent/{consent_id}/$revoke",
            "clinic",
            {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueCode": "patient-request"}]},
        )
        self.said("clinic gets", f"HTTP {answer.status_code} status {answer.json().get('status')}")

    def accounting(self) -> None:
        self.step(
            "The compliance office prints Sam's accounting of disclosures (45 CFR 164.528, 42 CFR 2.24)"
        )
        if self.person_id is None:
            self.said("compliance sees", "no person was disclosed to police, so there is nothing to account")
            return
        answer = self.http.get(f"/audit/accounting/{self.person_id}", headers=self.compliance)
        answer.raise_for_status()
        for row in answer.json()["disclosures"]:
            basis = ", ".join(b["code"] for b in row["legal_basis"])
            self.said(
                "compliance sees",
                f"{row['date'][:19]} to {row['recipient']['name']} ({row['recipient']['user']}): "
                f"{row['description']}; purpose {row['purpose']}; basis {basis}",
            )
        self.said("printable", f"{self.http.base_url}/audit/accounting/{self.person_id}?format=html")

    def verify_log(self) -> None:
        self.step("Anyone can verify the audit log: recompute the Merkle tree, check every signature")
        time.sleep(1.0)  # let the integrator append and sign the last records
        bundle = fetch_bundle(str(self.http.base_url), self.parties["compliance"].token)
        report = verify_bundle(bundle)
        self.said(
            "verifier",
            f"OK: {report.entries} entries, {report.checkpoints} signed checkpoints, "
            f"root {report.root.hex()[:16]}...",
        )

    def post(
        self, path: str, party: str, document: dict[str, Any], *, content_type: str = "application/fhir+json"
    ) -> httpx.Response:
        return self.http.post(
            path,
            content=json.dumps(document).encode(),
            headers={**self.parties[party].headers, "Content-Type": content_type},
        )


def run_demo(
    directory: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    mllp_port: int = 2575,
    stay: bool = True,
    out: Callable[[str], None] = print,
) -> None:
    """Raises: DemoError."""
    if port == mllp_port:
        raise DemoError("the HTTP and MLLP ports must differ")
    started = time.monotonic()
    prepare(directory)
    settings = demo_settings(directory, host, port, mllp_port)
    parties = register_program(settings)
    gateway = RunningGateway(settings)
    out(f"Consent Gateway demo: {gateway.base_url} (MLLP {host}:{mllp_port}), data in {directory}")
    gateway.start()
    try:
        Walkthrough(gateway.base_url, (host, mllp_port), parties, out).run()
        out(f"\nThe program ran in {time.monotonic() - started:.1f} s.")
        if not stay:
            return
        out("\nThe gateway keeps running; explore it with these tokens (valid 8 hours):")
        for label, party in parties.items():
            if party.headers:
                out(f"   {label:<11} {party.label:<16} {party.token}")
        search = f"family={FAMILY}&given={GIVEN}&birthdate={BORN}"
        out(f"   try: curl -H 'Authorization: Bearer <officer>' '{gateway.base_url}/fhir/r4/Flag?{search}'")
        out(f"   API docs: {gateway.base_url}/docs    Ctrl-C stops it.")
        gateway.wait()
    finally:
        gateway.stop()
