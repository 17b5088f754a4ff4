"""`consent-gateway`: run the gateway and administer its registry, keys and schema.

Every command honours CGW_DATABASE_URL and CGW_KEYRING (and the other CGW_* settings), so a
script can point it at a scratch installation. Errors print one line, `error: <reason>`, on
stderr and exit 2; nothing is half-written (each command is one transaction).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer

from audit.bundle import read_bundle
from audit.checkpoint import NoteVerifier
from audit.cosignature import CosignerKey
from audit.errors import CheckpointError, VerificationFailed
from audit.recorded_window import DEFAULT_CLOCK_SKEW, DEFAULT_MAX_LAG
from audit.verify import verify_bundle
from consent_ledger import ChainBroken, ConsentInvalid
from gateway import __version__
from gateway.auth.tokens import issue_token
from gateway.bootstrap import open_keyring, open_runtime
from gateway.errors import CLI_EXIT_BAD_INPUT
from gateway.flows.audit_log import AuditLog
from gateway.flows.consents import ConsentRefused, ConsentService
from gateway.flows.persons import list_duplicates
from gateway.flows.registry import RegistryService
from gateway.keyring import Keyring, KeyringError, load_keyring, save_keyring
from gateway.log_config import configure_logging, get_logger
from gateway.registry.domain import (
    ApiClient,
    Organization,
    Personnel,
    Sender,
    check_id,
    parse_agreement,
    parse_choice,
    parse_day,
)
from gateway.registry.errors import InvalidRegistryInput, RegistryError
from gateway.remote_audit import fetch_bundle
from gateway.services import audit_log, policy_engine, policy_gate
from gateway.settings import Settings, SettingsError, load_settings
from gateway.store.database import (
    DatabaseError,
    bind_keyring,
    check_reachable,
    create_db_engine,
    current_revision,
    head_revision,
    upgrade,
)
from policies.errors import PolicyError
from policies.vocabulary import OrgType, Role

app = typer.Typer(
    name="consent-gateway",
    help="Consent Gateway: lawful, minimal, audited sharing for co-responder programs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema: upgrade and status.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations and their agreements.", no_args_is_help=True)
client_app = typer.Typer(help="API clients: which org they act for, with which role.", no_args_is_help=True)
personnel_app = typer.Typer(
    help="Personnel CJIS status (addendum, training, background check).", no_args_is_help=True
)
token_app = typer.Typer(help="Bearer tokens from the embedded issuer.", no_args_is_help=True)
keys_app = typer.Typer(help="The keyring: data keys and signing keys.", no_args_is_help=True)
config_app = typer.Typer(help="Effective configuration.", no_args_is_help=True)
persons_app = typer.Typer(help="The person index: possible duplicates for review.", no_args_is_help=True)
consent_app = typer.Typer(
    help="The consent ledger: import consents, read their facts, verify the chain.", no_args_is_help=True
)
policy_app = typer.Typer(
    help="The policy engine: evaluate a decision input offline, list the rules.", no_args_is_help=True
)
audit_app = typer.Typer(
    help="The audit log: force a checkpoint, export it, verify an export offline.", no_args_is_help=True
)
witness_app = typer.Typer(
    help="A witness for the audit log (C2SP tlog-witness), run by the compliance office apart "
    "from the gateway.",
    no_args_is_help=True,
)
for sub_app, name in (
    (db_app, "db"),
    (witness_app, "witness"),
    (audit_app, "audit"),
    (org_app, "org"),
    (client_app, "client"),
    (personnel_app, "personnel"),
    (token_app, "token"),
    (keys_app, "keys"),
    (config_app, "config"),
    (persons_app, "persons"),
    (consent_app, "consent"),
    (policy_app, "policy"),
):
    app.add_typer(sub_app, name=name)

log = get_logger("gateway.cli")
_HANDLED = (RegistryError, SettingsError, KeyringError, DatabaseError, PolicyError)


def _fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(CLI_EXIT_BAD_INPUT)


@contextmanager
def _reported() -> Iterator[None]:
    """Turn domain errors into one line on stderr and exit code 2."""
    try:
        yield
    except _HANDLED as exc:
        _fail(str(exc))


def _settings(**overrides: Any) -> Settings:
    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


@contextmanager
def _registry() -> Iterator[RegistryService]:
    with _reported():
        runtime = open_runtime(_settings())
        try:
            yield RegistryService(runtime.engine)
        finally:
            runtime.engine.dispose()


def _optional_day(option: str, value: str | None) -> date | None:
    return None if value is None else parse_day(option, value)


def _emit(rows: list[dict[str, Any]], as_json: bool, columns: list[str]) -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    print("\t".join(columns))
    for row in rows:
        print("\t".join("" if row[c] is None else str(row[c]) for c in columns))


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [env: CGW_HOST, default 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [env: CGW_PORT, default 8080].")] = None,
) -> None:
    """Start the gateway (HTTP API) on the configured database and keyring.

    Refuses to start on malformed settings, an unreadable keyring, an unreachable database or
    an outdated schema, and says which setting to fix.
    """
    import uvicorn

    from gateway.app import create_app

    with _reported():
        settings = _settings(host=host, port=port)
        runtime = open_runtime(settings)
    api = create_app(settings, runtime)
    log.info(
        "gateway_starting",
        host=settings.host,
        port=settings.port,
        version=__version__,
        environment=settings.environment.value,
    )
    try:
        uvicorn.run(
            api,
            host=settings.host,
            port=settings.port,
            access_log=False,  # our middleware logs route templates, never raw URLs
            log_config=None,
            server_header=False,
        )
    finally:
        runtime.engine.dispose()


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="A fresh directory for the demo's database and keyring.")
    ] = Path("./var/demo"),
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8080,
    mllp_port: Annotated[int, typer.Option(help="MLLP port.")] = 2575,
    stay: Annotated[
        bool, typer.Option("--stay/--exit", help="Keep the gateway running afterwards (default).")
    ] = True,
) -> None:
    """Run the whole co-responder program on a fresh SQLite: five organisations, HL7 v2 over
    MLLP and FHIR pushes, a police incident, a consent, the flag pull before and after it, a
    clinician's lookup, a revocation, the accounting of disclosures and a verified audit log."""
    from gateway.demo import DemoError, run_demo

    configure_logging("warning", json=True)
    try:
        run_demo(directory, port=port, mllp_port=mllp_port, stay=stay)
    except DemoError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        print("\ndemo stopped")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to this version (safe to repeat)."""
    with _reported():
        settings = _settings()
        keyring = open_keyring(settings)
        engine = create_db_engine(settings)
        try:
            check_reachable(engine)
            before = current_revision(engine)
            upgrade(engine)
            bind_keyring(engine, keyring.keyring_id)
            after = current_revision(engine)
        finally:
            engine.dispose()
    print(f"schema at {after}" + (" (unchanged)" if before == after else f" (was {before or 'empty'})"))


@db_app.command("status")
def db_status() -> None:
    """Show the database's schema revision and the one this version needs."""
    with _reported():
        engine = create_db_engine(_settings())
        try:
            current = current_revision(engine)
        finally:
            engine.dispose()
    head = head_revision()
    status = "current" if current == head else "outdated"
    print(f"current\t{current or 'empty'}\nrequired\t{head}\nstatus\t{status}")
    if current != head:
        raise typer.Exit(1)


@org_app.command("add")
def org_add(
    org_id: Annotated[str, typer.Argument(help="Short id, e.g. pd-springfield (a-z, 0-9, . _ -).")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    org_type: Annotated[str, typer.Option("--type", help=f"One of: {', '.join(t.value for t in OrgType)}.")],
    part2_program: Annotated[
        bool,
        typer.Option("--part2-program", help="A federally assisted SUD program (42 CFR 2.11)."),
    ] = False,
    cjis_agency: Annotated[
        bool, typer.Option("--cjis-agency", help="A criminal justice agency (CJIS).")
    ] = False,
    agreement: Annotated[
        list[str] | None,
        typer.Option(
            "--agreement",
            help="KIND:START[:END] with dates YYYY-MM-DD; kinds: baa, qsoa, cjis_security_addendum, "
            "data_sharing_mou. Repeat for several.",
        ),
    ] = None,
) -> None:
    """Register an organisation with its agreements (all or nothing)."""
    with _reported():
        org = Organization(
            org_id=check_id("org", org_id),
            name=name,
            org_type=parse_choice(OrgType, "org type", org_type),
            part2_program=part2_program,
            cjis_agency=cjis_agency,
            agreements=tuple(parse_agreement(text) for text in agreement or []),
        )
    with _registry() as registry:
        registry.register_org(org)
    print(f"org {org.org_id} registered")


@org_app.command("agreement")
def org_agreement(
    org_id: Annotated[str, typer.Argument(help="The org the agreement is with.")],
    agreement: Annotated[str, typer.Argument(help="KIND:START[:END], dates YYYY-MM-DD.")],
) -> None:
    """Record another agreement for a registered organisation."""
    with _reported():
        parsed = parse_agreement(agreement)
    with _registry() as registry:
        registry.add_agreement(org_id, parsed)
    print(f"agreement {parsed.kind.value} recorded for {org_id}")


@org_app.command("list")
def org_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List organisations, with the agreements in force today."""
    today = datetime.now(UTC).date()
    with _registry() as registry:
        orgs = registry.list_orgs()
    rows = [
        {
            "org_id": o.org_id,
            "name": o.name,
            "type": o.org_type.value,
            "part2_program": o.part2_program,
            "cjis_agency": o.cjis_agency,
            "agreements_in_force": ",".join(k.value for k in o.agreements_in_force(today)),
            "agreements": [
                {"kind": a.kind.value, "effective_on": a.effective_on, "ends_on": a.ends_on}
                for a in o.agreements
            ],
        }
        for o in orgs
    ]
    _emit(
        rows,
        as_json,
        ["org_id", "type", "part2_program", "cjis_agency", "agreements_in_force", "name"],
    )


@client_app.command("add")
def client_add(
    client_id: Annotated[str, typer.Argument(help="Short id of the client, e.g. rms-springfield.")],
    org: Annotated[str, typer.Option("--org", help="The registered org the client acts for.")],
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(r.value for r in Role)}.")],
) -> None:
    """Register an API client for an organisation, with a role."""
    with _reported():
        client = ApiClient(
            client_id=check_id("client", client_id),
            org_id=org,
            role=parse_choice(Role, "role", role),
        )
    with _registry() as registry:
        registry.register_client(client)
    print(f"client {client.client_id} registered for {client.org_id} as {client.role.value}")


@client_app.command("disable")
def client_disable(
    client_id: Annotated[str, typer.Argument(help="The client to disable.")],
) -> None:
    """Disable a client: its tokens are refused from the next request on."""
    with _registry() as registry:
        registry.set_client_active(client_id, active=False)
    print(f"client {client_id} disabled")


@client_app.command("enable")
def client_enable(client_id: Annotated[str, typer.Argument(help="The client to enable.")]) -> None:
    """Enable a disabled client again."""
    with _registry() as registry:
        registry.set_client_active(client_id, active=True)
    print(f"client {client_id} enabled")


@client_app.command("mllp-secret")
def client_mllp_secret(
    client_id: Annotated[str, typer.Argument(help="The client that will send over MLLP.")],
) -> None:
    """Create (or replace) the client's MLLP shared secret and print it, alone on stdout.

    The sender puts it in MSH-8 (Security) of every message. Only its SHA-256 is stored: it
    cannot be shown again; run this again to replace it.
    """
    with _registry() as registry:
        secret = registry.issue_mllp_secret(client_id)
    print(secret)


@client_app.command("list")
def client_list(
    org: Annotated[str | None, typer.Option("--org", help="Only this org's clients.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List API clients."""
    with _registry() as registry:
        clients = registry.list_clients(org)
    rows = [
        {"client_id": c.client_id, "org_id": c.org_id, "role": c.role.value, "active": c.active}
        for c in clients
    ]
    _emit(rows, as_json, ["client_id", "org_id", "role", "active"])


@personnel_app.command("set")
def personnel_set(
    subject: Annotated[str, typer.Argument(help="The person's subject as it appears in tokens (`sub`).")],
    org: Annotated[str, typer.Option("--org", help="The person's registered org.")],
    addendum_signed: Annotated[
        str | None,
        typer.Option("--addendum-signed", help="Date the CJIS Security Addendum was signed."),
    ] = None,
    training: Annotated[
        str | None,
        typer.Option("--training", help="Date CJIS security awareness training was completed."),
    ] = None,
    background_check: Annotated[
        str | None,
        typer.Option("--background-check", help="Date the fingerprint background check cleared."),
    ] = None,
    revoked: Annotated[
        str | None,
        typer.Option("--revoked", help="Date CJIS access ended (termination or transfer)."),
    ] = None,
) -> None:
    """Record (or replace) a person's CJIS status facts, each with its date."""
    with _reported():
        person = Personnel(
            subject=subject,
            org_id=org,
            addendum_signed_on=_optional_day("--addendum-signed", addendum_signed),
            training_completed_on=_optional_day("--training", training),
            background_check_on=_optional_day("--background-check", background_check),
            access_revoked_on=_optional_day("--revoked", revoked),
        )
    with _registry() as registry:
        registry.set_personnel(person)
    status = person.cjis_status(datetime.now(UTC).date())
    print(
        f"personnel {subject} recorded: addendum={status.security_addendum} "
        f"training_current={status.training_current} background_check={status.background_check}"
    )


@personnel_app.command("list")
def personnel_list(
    org: Annotated[str | None, typer.Option("--org", help="Only this org's personnel.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List personnel with their CJIS facts and today's status."""
    today = datetime.now(UTC).date()
    with _registry() as registry:
        people = registry.list_personnel(org)
    rows = []
    for p in people:
        status = p.cjis_status(today)
        rows.append(
            {
                "subject": p.subject,
                "org_id": p.org_id,
                "addendum_signed_on": p.addendum_signed_on,
                "training_completed_on": p.training_completed_on,
                "background_check_on": p.background_check_on,
                "access_revoked_on": p.access_revoked_on,
                "cjis_cleared": status.security_addendum
                and status.training_current
                and status.background_check,
            }
        )
    _emit(
        rows,
        as_json,
        [
            "subject",
            "org_id",
            "cjis_cleared",
            "addendum_signed_on",
            "training_completed_on",
            "background_check_on",
            "access_revoked_on",
        ],
    )


@persons_app.command("duplicates")
def persons_duplicates(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List possible duplicate persons for a human to review (never merged automatically)."""
    with _reported():
        runtime = open_runtime(_settings())
        try:
            rows = list_duplicates(runtime.engine)
        finally:
            runtime.engine.dispose()
    _emit(rows, as_json, ["person_id", "candidate_person_id", "reason", "created_at"])


@contextmanager
def _consents() -> Iterator[tuple[ConsentService, RegistryService]]:
    with _reported():
        runtime = open_runtime(_settings())
        try:
            registry = RegistryService(runtime.engine)
            yield (
                ConsentService(
                    engine=runtime.engine,
                    keyring=runtime.keyring,
                    org_exists=lambda org_id: registry.get_org(org_id) is not None,
                    policy=policy_gate(_settings(), runtime.keyring, runtime.engine),
                ),
                registry,
            )
        finally:
            runtime.engine.dispose()


@consent_app.command("import")
def consent_import(
    file: Annotated[Path, typer.Argument(help="A FHIR R4 Consent (JSON), or a Bundle of Consents.")],
    client_id: Annotated[str, typer.Option("--client", help="The registered client recording it.")],
) -> None:
    """Record consents from a file; prints `Consent/<id>` per consent, in order."""
    try:
        document = json.loads(file.read_bytes())
    except (OSError, ValueError):
        _fail(f"{file} cannot be read as JSON")
    if not isinstance(document, dict):
        _fail(f"{file} is not a FHIR resource")
    documents = (
        [e.get("resource") for e in document.get("entry") or [] if isinstance(e, dict)]
        if document.get("resourceType") == "Bundle"
        else [document]
    )
    with _consents() as (consents, registry):
        client = registry.get_client(client_id)
        org = registry.get_org(client.org_id) if client else None
        if client is None or org is None or not client.active:
            _fail(f"client {client_id!r} does not exist or is disabled")
        sender = Sender(client_id=client.client_id, org=org, role=client.role)
        for index, resource in enumerate(documents):
            try:
                stored = consents.record(sender, resource if isinstance(resource, dict) else {}, None)
            except ConsentRefused as refused:
                _fail(f"{refused.code}: {refused.reason}")
            except ConsentInvalid as invalid:
                for problem in invalid.problems:
                    print(f"error: consent {index}: {problem.location}: {problem.reason}", file=sys.stderr)
                raise typer.Exit(CLI_EXIT_BAD_INPUT) from None
            print(f"Consent/{stored.version.consent_id}")


@consent_app.command("facts")
def consent_facts(
    person_id: Annotated[str, typer.Argument(help="A person id from the person index.")],
    at: Annotated[
        str | None, typer.Option("--at", help="An RFC 3339 instant (default: now); any past instant works.")
    ] = None,
) -> None:
    """Print the consents the policy engine sees for a person at an instant (JSON)."""
    try:
        when = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else datetime.now(UTC)
    except ValueError:
        _fail("--at must be an RFC 3339 instant")
    if when.tzinfo is None:
        _fail("--at needs a time zone (e.g. 2026-11-23T10:00:00Z)")
    with _consents() as (consents, _registry_service):
        print(json.dumps(consents.consents_for(person_id, when), indent=2))


@consent_app.command("verify")
def consent_verify() -> None:
    """Check every consent's version chain and sealed text; exit 1 naming the first break."""
    with _consents() as (consents, _registry_service):
        try:
            count = consents.verify()
        except ChainBroken as broken:
            print(f"error: {broken}", file=sys.stderr)
            raise typer.Exit(1) from None
    print(f"ok: {count} consents, every version chained and unaltered")


@token_app.command("issue")
def token_issue(
    client_id: Annotated[str, typer.Argument(help="A registered, active client.")],
    mfa: Annotated[bool, typer.Option("--mfa", help='Mark the token as multi-factor (amr=["mfa"]).')] = False,
    ttl: Annotated[int, typer.Option("--ttl", help="Lifetime in seconds.", min=60)] = 3600,
    subject: Annotated[
        str | None,
        typer.Option("--subject", help="The person acting through the client (default: the client)."),
    ] = None,
) -> None:
    """Print a signed bearer token for a client, alone on stdout."""
    with _registry() as registry:
        client = registry.get_client(client_id)
    with _reported():
        settings = _settings()
        if client is None:
            raise InvalidRegistryInput(f"client {client_id!r} does not exist")
        if not client.active:
            raise InvalidRegistryInput(f"client {client_id!r} is disabled")
        if ttl > settings.token_max_ttl:
            raise InvalidRegistryInput(
                f"--ttl may be at most {settings.token_max_ttl} seconds (CGW_TOKEN_MAX_TTL)"
            )
        keyring = open_keyring(settings)
    print(
        issue_token(
            keyring=keyring,
            settings=settings,
            client_id=client_id,
            subject=subject,
            mfa=mfa,
            ttl=ttl,
        )
    )


@keys_app.command("init")
def keys_init() -> None:
    """Create the keyring file (mode 0600) if it does not exist yet; check it if it does."""
    with _reported():
        settings = _settings()
        passphrase = settings.keyring_passphrase_value
        try:
            save_keyring(Keyring.create(), settings.keyring, passphrase, exclusive=True)
            outcome = "created"
        except FileExistsError:
            outcome = "already exists"
        load_keyring(settings.keyring, passphrase)
    print(f"keyring {settings.keyring} {outcome}")


@keys_app.command("rotate")
def keys_rotate(
    signing: Annotated[
        bool,
        typer.Option(
            "--signing",
            help="Also add a new token-signing key (old tokens stay valid until expiry).",
        ),
    ] = False,
    audit: Annotated[
        bool,
        typer.Option(
            "--audit",
            help="Also add a new audit checkpoint key (old checkpoints stay verifiable).",
        ),
    ] = False,
) -> None:
    """Add a new data key (and optionally signing keys); old ciphertexts, tokens and checkpoints
    still open and verify."""
    with _reported():
        settings = _settings()
        keyring = open_keyring(settings).rotate_data_key()
        if signing:
            keyring = keyring.rotate_signing_key("token")
        if audit:
            keyring = keyring.rotate_signing_key("audit")
        save_keyring(keyring, settings.keyring, settings.keyring_passphrase_value)
    print(f"active data key {keyring.active_data_key()[0]}")
    if signing:
        print(f"active signing key {keyring.active_signing_key('token').kid}")
    if audit:
        print(f"active audit key {keyring.active_signing_key('audit').kid}")


@keys_app.command("list")
def keys_list() -> None:
    """List key ids and creation times (never key material)."""
    with _reported():
        keyring = open_keyring(_settings())
    print("kind\tkid\tpurpose\tcreated_at\tactive")
    active_data = keyring.active_data_key()[0]
    for data_key in keyring.data_keys:
        print(f"data\t{data_key.kid}\t-\t{data_key.created_at}\t{data_key.kid == active_data}")
    for signing_key in keyring.signing_keys:
        active = keyring.active_signing_key(signing_key.purpose).kid == signing_key.kid
        print(f"signing\t{signing_key.kid}\t{signing_key.purpose}\t{signing_key.created_at}\t{active}")


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective configuration, secrets masked."""
    with _reported():
        shown = _settings().masked()
    if as_json:
        print(json.dumps(shown, indent=2))
        return
    for key, value in shown.items():
        print(f"{key}={'' if value is None else value}")


def _print_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """Consent Gateway: lawful, minimal, audited sharing for co-responder programs."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()


@policy_app.command("eval")
def policy_eval(
    path: Annotated[Path, typer.Argument(help="A decision input (DESIGN.md 7) as JSON; '-' for stdin")],
    explain: Annotated[bool, typer.Option("--explain", help="List the rules that fired")] = False,
) -> None:
    """Decide one input with the configured engine (and overlays) and print the decision.

    Exit code 0 for permit, 1 for deny, 2 for unreadable input.
    """
    with _reported():
        text = sys.stdin.read() if str(path) == "-" else _read_text(path)
        try:
            decision_input = json.loads(text)
        except ValueError:
            _fail(f"{path} is not JSON")
        if not isinstance(decision_input, dict):
            _fail(f"{path} does not hold a JSON object")
        engine = policy_engine(_settings())
        decision = engine.explain(decision_input) if explain else engine.decide(decision_input)
        print(json.dumps(decision.as_json(), indent=2))
        raise typer.Exit(0 if decision.permitted else 1)


@policy_app.command("show")
def policy_show() -> None:
    """The policy version, the modules (ours and overlays) and every rule code with its citation."""
    with _reported():
        engine = policy_engine(_settings())
        print(f"policy_version {engine.version}")
        for module in engine.bundle.modules:
            print(f"module {module.name} ({module.package}){' overlay' if module.overlay else ''}")
        for rule in engine.catalog.rules:
            print(f"rule {rule.code}\t{rule.citation}\t{rule.enforced_by}")


@contextmanager
def _audit_log() -> Iterator[AuditLog]:
    with _reported():
        settings = _settings()
        runtime = open_runtime(settings)
        try:
            yield audit_log(settings, runtime.keyring, runtime.engine)
        finally:
            runtime.engine.dispose()


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Integrate every pending record and print the signed checkpoint of the whole log."""
    with _audit_log() as log_:
        print(log_.checkpoint(), end="")


@audit_app.command("export")
def audit_export(directory: Annotated[Path, typer.Argument(help="Where to write the bundle")]) -> None:
    """Write the log (leaves, checkpoints, public keys) as a bundle `audit verify` checks offline."""
    with _audit_log() as log_:
        log_.checkpoint()
        count = log_.export(directory)
    print(f"exported {count} entries of {log_.origin} to {directory}")


@audit_app.command("verify")
def audit_verify(
    directory: Annotated[Path | None, typer.Argument(help="An exported bundle")] = None,
    url: Annotated[
        str | None, typer.Option(help="Fetch the log from a gateway instead (needs --token)")
    ] = None,
    token: Annotated[str | None, typer.Option(help="A compliance officer's bearer token")] = None,
    key: Annotated[
        list[str] | None, typer.Option(help="A trusted verifier key (name+keyid+key); repeatable")
    ] = None,
    known: Annotated[
        list[Path] | None, typer.Option(help="A checkpoint you kept from earlier (a file); repeatable")
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(help="A witness key (from `witness init`) whose cosignature is required; repeatable"),
    ] = None,
    quorum: Annotated[int, typer.Option(min=1, help="How many of the --witness keys must cosign")] = 1,
    max_lag: Annotated[
        int,
        typer.Option(
            min=0, help="Seconds a record may take to reach a cosigned checkpoint (backdating check)"
        ),
    ] = DEFAULT_MAX_LAG,
    clock_skew: Annotated[
        int, typer.Option(min=0, help="Seconds the gateway's and witnesses' clocks may differ")
    ] = DEFAULT_CLOCK_SKEW,
) -> None:
    """Recompute the RFC 6962 tree, check every checkpoint's signature and root, and every leaf.

    Exit 0 when the log verifies, 1 naming the first bad index when it does not, 2 when the
    input cannot be read. Without --key the keys listed in the bundle are trusted (and printed:
    compare them with the keys the gateway publishes).
    """
    if (directory is None) == (url is None):
        _fail("give either a bundle directory or --url")
    try:
        bundle = read_bundle(directory) if directory is not None else fetch_bundle(url or "", token)
        trusted = [NoteVerifier.decode(k) for k in key] if key else None
        witnesses = [CosignerKey.decode(k) for k in witness or []]
        held = [_read_text(path) for path in known or []]
    except (OSError, ValueError, KeyError, CheckpointError, httpx.HTTPError) as exc:
        _fail(f"cannot read the log: {exc}")
    try:
        report = verify_bundle(
            bundle,
            trusted=trusted,
            known_notes=held,
            witnesses=witnesses,
            quorum=quorum,
            clock_skew=clock_skew,
            max_lag=max_lag,
        )
    except VerificationFailed as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        raise typer.Exit(1) from None
    for verifier in report.trusted_keys:
        print(f"trusted key {verifier}")
    print(
        f"OK {report.origin}: {report.entries} entries, {report.checkpoints} checkpoints, "
        f"{report.covered} entries covered by a signed checkpoint, root {report.root.hex()}"
    )
    if witnesses:
        cosigned_at = datetime.fromtimestamp(report.witnessed_at or 0, UTC).isoformat()
        print(
            f"witnessed {report.witnessed} entries: cosigned by {quorum} of {len(witnesses)} "
            f"witnesses by {cosigned_at}"
        )


@witness_app.command("init")
def witness_init(
    directory: Annotated[Path, typer.Argument(help="The witness's own directory (key, state)")],
    name: Annotated[
        str, typer.Option("--name", help="The witness's name, e.g. witness.compliance.county.gov")
    ],
    log_key: Annotated[
        list[str], typer.Option("--log", help="A log to witness: its key from GET /audit/keys; repeatable")
    ],
) -> None:
    """Create a witness: an Ed25519 key (file mode 0600) and the logs it witnesses. Prints the
    witness key to configure on the gateway (CGW_AUDIT_WITNESSES) and give to auditors."""
    from gateway.witness_service import init_witness

    try:
        cosigner = init_witness(directory, name, log_key)
    except FileExistsError:
        _fail(f"{directory} already holds a witness key")
    except (OSError, CheckpointError) as exc:
        _fail(f"cannot create the witness: {exc}")
    print(cosigner.encode())


@witness_app.command("serve")
def witness_serve(
    directory: Annotated[Path, typer.Argument(help="A directory made by `witness init`")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
) -> None:
    """Serve POST /add-checkpoint: cosign each checkpoint consistent with the last one cosigned."""
    import uvicorn

    from gateway.witness_service import Witness, WitnessState, create_witness_app, load_witness

    try:
        config, private_key = load_witness(directory)
    except (OSError, ValueError, KeyError, CheckpointError) as exc:
        _fail(f"cannot load the witness in {directory}: {exc}")
    witness = Witness(config, private_key, WitnessState(directory))
    log.info("witness_starting", host=host, port=port, count=len(config.logs))
    uvicorn.run(
        create_witness_app(witness),
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        server_header=False,
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        _fail(f"cannot read {path}")
