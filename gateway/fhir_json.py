"""Rules of FHIR JSON that the gateway's own Bundles must keep."""

from __future__ import annotations

from typing import Any


def with_entries(bundle: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """`bundle` with its entries, leaving `entry` out when there are none: FHIR JSON has no empty
    arrays (an empty search answer is `total: 0` and no `entry`)."""
    if entries:
        bundle["entry"] = entries
    else:
        bundle.pop("entry", None)
    return bundle
