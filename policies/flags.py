"""What `policies/flags.rego` derives, read into typed values (DESIGN.md 6).

Both adapters return the raw `data.consent_gateway.flags.derived` set; `read_derived` turns it
into `DerivedFlag`s the same way for both and fails closed on anything outside the vocabulary,
so a policy bug cannot put a free-text or unknown flag in front of an officer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from policies.errors import PolicyUnavailable
from policies.vocabulary import FlagCode

FLAGS_PACKAGE = "consent_gateway.flags"
FLAGS_RULE = "derived"


@dataclass(frozen=True)
class DerivedFlag:
    code: FlagCode
    source: str  # the envelope id of the record the flag rests on
    rule: str  # the derivation rule, e.g. FLAG-CRISIS-PLAN
    expires: datetime  # a Monday 00:00Z: no flag reveals a date finer than the week


def read_derived(result: object) -> list[DerivedFlag]:
    """Raises: PolicyUnavailable when the result is not a list of well-formed flags."""
    if result is None:
        return []
    if not isinstance(result, Sequence) or isinstance(result, str | bytes):
        raise PolicyUnavailable("the flag derivation returned no set")
    flags = []
    for entry in result:
        if not isinstance(entry, Mapping):
            raise PolicyUnavailable("the flag derivation returned a malformed flag")
        code, source, rule, expires = (entry.get(k) for k in ("code", "source", "rule", "expires_ns"))
        if not isinstance(code, str) or code not in FlagCode.__members__.values():
            raise PolicyUnavailable("the flag derivation returned a code outside the vocabulary")
        if not isinstance(source, str) or not isinstance(rule, str) or not isinstance(expires, int):
            raise PolicyUnavailable("the flag derivation returned a malformed flag")
        flags.append(
            DerivedFlag(
                code=FlagCode(code),
                source=source,
                rule=rule,
                expires=datetime.fromtimestamp(expires // 1_000_000_000, UTC),
            )
        )
    return sorted(flags, key=lambda f: (f.code.value, f.source, f.rule))
