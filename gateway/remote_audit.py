"""Fetch a gateway's audit log over HTTP as a bundle, for `consent-gateway audit verify --url`.

Only the transport lives here; the verification is `audit.verify`, the same as for a bundle on
disk. The leaves come from `GET /audit/entries` (a compliance officer's token: records are about
people), the keys and the latest checkpoint from the public endpoints.
"""

from __future__ import annotations

import base64

import httpx

from audit.bundle import Bundle, StoredCheckpoint
from audit.checkpoint import parse_body

PAGE = 500


def fetch_bundle(url: str, token: str | None, *, timeout: float = 30) -> Bundle:
    """Raises: httpx.HTTPError; ValueError; KeyError (an answer not in the expected shape)."""
    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}", "X-Purpose-Of-Use": "HOVERSIGHT"} if token else {}
    with httpx.Client(timeout=timeout) as client:
        keys = client.get(f"{base}/audit/keys").raise_for_status().json()
        note = client.get(f"{base}/audit/checkpoint").raise_for_status().text
        size = parse_body(note[: note.index("\n\n") + 1]).size
        checkpoints = [StoredCheckpoint(size, note)]
        cosigned = client.get(f"{base}/audit/checkpoint", params={"cosigned": "true"})
        if cosigned.status_code == 200:  # 404 while no witness has cosigned
            checkpoints.insert(
                0,
                StoredCheckpoint(
                    parse_body(cosigned.text[: cosigned.text.index("\n\n") + 1]).size, cosigned.text
                ),
            )
        leaves: list[bytes] = []
        hashes: list[bytes] = []
        indices: list[int] = []
        after = -1
        while len(leaves) < size:
            page = client.get(
                f"{base}/audit/entries", params={"after": after, "limit": PAGE}, headers=headers
            )
            entries = page.raise_for_status().json()["entries"]
            if not entries:
                break
            for entry in entries:
                indices.append(int(entry["index"]))
                leaves.append(base64.b64decode(entry["leaf"]))
                hashes.append(bytes.fromhex(entry["leaf_hash"]))
            after = int(entries[-1]["index"])
    return Bundle(
        origin=str(keys["origin"]),
        verifier_keys=[str(k) for k in keys["verifier_keys"]],
        leaves=leaves[:size],
        leaf_hashes=hashes[:size],
        checkpoints=checkpoints,
        stored_indices=indices[:size],
    )
