"""Finding the person a request names, without ever creating one.

A client names a patient by the gateway's person id, by its own logical Patient id (the id its
EHR pushed), or by an identifier (system|value). Demographics alone never name a patient here:
a lookup or a consent must be about someone known exactly.
"""

from __future__ import annotations

from sqlalchemy import Connection

from connectors.envelope import Identifier, SubjectRef
from gateway.keyring import Keyring
from gateway.person_keys import subject_keys
from gateway.store import persons


def local_identifier_system(org_id: str) -> str:
    """The system of an identifier a client sends without one: local to its org."""
    return f"urn:consent-gateway:org:{org_id}:local"


def find_person(
    connection: Connection,
    keyring: Keyring,
    org_id: str,
    *,
    logical_id: str | None = None,
    identifier: tuple[str | None, str] | None = None,
) -> str | None:
    """The surviving person `org_id`'s client names, or None.

    `logical_id` is the client's own Patient id, or else the gateway's person id.
    """
    if logical_id:
        subject = SubjectRef(source_logical_id=logical_id)
    elif identifier and identifier[1]:
        system = identifier[0] or local_identifier_system(org_id)
        subject = SubjectRef(identifiers=(Identifier(system=system, value=identifier[1]),))
    else:
        return None
    keys = subject_keys(subject, org_id=org_id, index_key=keyring.index_key)
    person_id = persons.find_existing(connection=connection, keys=keys)
    if person_id is None and logical_id:
        return persons.existing_person(connection=connection, person_id=logical_id)
    return None if person_id is None else persons.canonical(connection, person_id)
