"""Reading a request body with a size limit, without holding more than the limit in memory."""

from __future__ import annotations

from fastapi import Request

from connectors.errors import TooLarge


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """Raises: TooLarge (declared or actual size over `max_bytes`)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"body exceeds {max_bytes} bytes", location="body", code="too-long")
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > max_bytes:
            raise TooLarge(f"body exceeds {max_bytes} bytes", location="body", code="too-long")
    return bytes(received)
