"""The org registry: organisations, their agreements, API clients and personnel CJIS status."""

from gateway.registry.domain import (
    Agreement,
    ApiClient,
    CjisStatus,
    Organization,
    Personnel,
    parse_agreement,
)
from gateway.registry.errors import (
    DuplicateError,
    InvalidRegistryInput,
    NotFoundError,
    RegistryError,
)

__all__ = [
    "Agreement",
    "ApiClient",
    "CjisStatus",
    "DuplicateError",
    "InvalidRegistryInput",
    "NotFoundError",
    "Organization",
    "Personnel",
    "RegistryError",
    "parse_agreement",
]
