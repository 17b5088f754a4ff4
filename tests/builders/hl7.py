"""Synthetic HL7 v2 ADT messages (no real PHI) and hypothesis strategies for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hypothesis import strategies as st

_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}


def escape(value: str) -> str:
    """HL7 escape sequences for the standard delimiters (the escape character first)."""
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


@dataclass(frozen=True)
class Person:
    mrn: str
    family: str
    given: str
    birth_date: date
    sex: str = "F"
    authority_oid: str = "2.16.840.1.113883.19.5"


def adt(
    person: Person,
    *,
    control_id: str = "MSG0001",
    event: str = "A01",
    version: str = "2.5",
    secret: str = "",
    facility: str = "GHH",
    extra_segments: tuple[str, ...] = (),
    charset: str = "",
    at: str = "20261101120000",
) -> str:
    msh = (
        f"MSH|^~\\&|ADT1|{facility}|GATEWAY|COUNTY|{at}|{secret}|ADT^{event}^ADT_A01|{control_id}|P|"
        f"{version}|||AL|NE||{charset}"
    )
    pid = (
        f"PID|1||{escape(person.mrn)}^^^GHH&{person.authority_oid}&ISO^MR||"
        f"{escape(person.family)}^{escape(person.given)}||{person.birth_date:%Y%m%d}|{person.sex}"
    )
    return "\r".join([msh, "EVN|" + event + "|" + at, pid, "PV1|1|E|ED^01^1|||||||PSY", *extra_segments])


name_text = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéöñ'- &^|\\~"),
    min_size=1,
    max_size=20,
).filter(lambda s: s.strip() != "" and s == s.strip())
people = st.builds(
    Person,
    mrn=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", min_size=1, max_size=16),
    family=name_text,
    given=name_text,
    birth_date=st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 1, 1)),
    sex=st.sampled_from(["F", "M", "O", "U"]),
)
