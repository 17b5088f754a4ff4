"""The OPA server adapter (`CGW_OPA_URL`): the same policies, loaded into OPA, queried over REST.

At start every module of the bundle is PUT to `/v1/policies/{id}` (opa-python-client); each
decision POSTs `{"input": ...}` to `/v1/data/consent_gateway/decision/result` (a flag
derivation to `/v1/data/consent_gateway/flags/derived`). The gateway
fails closed when OPA cannot answer. Verified against real OPA only through compose.yaml; the
test suite exercises the wire format against a small OPA-protocol server built on regopy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from opa_client import OpaClient
from opa_client.errors import ConnectionsError, PolicyNotFoundError, RegoParseError

from policies.bundle import DECISION_PACKAGE, PolicyBundle
from policies.decision import Decision
from policies.engine import BundleEngine
from policies.errors import PolicyLoadError, PolicyUnavailable
from policies.flags import FLAGS_PACKAGE, FLAGS_RULE, DerivedFlag, read_derived


def client_for(url: str, *, timeout: float = 2.0) -> OpaClient:
    """Raises: PolicyLoadError for a URL that is not http(s)://host[:port]."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PolicyLoadError("CGW_OPA_URL must be http(s)://host[:port]")
    port = parts.port or (443 if parts.scheme == "https" else 8181)
    return OpaClient(host=parts.hostname, port=port, ssl=parts.scheme == "https", timeout=timeout, retries=1)


class OpaEngine(BundleEngine):
    def __init__(self, bundle: PolicyBundle, url: str) -> None:
        super().__init__(bundle)
        self._client = client_for(url)
        self._load_policies()

    def _load_policies(self) -> None:
        """Raises: PolicyUnavailable (OPA unreachable) or PolicyLoadError (OPA refused a module)."""
        for module in self._bundle.modules:
            try:
                loaded = self._client.update_policy_from_string(
                    module.text, module.policy_id, rego_compat=False
                )
            except RegoParseError:
                raise PolicyLoadError(f"{module.name}: OPA refused the module") from None
            except (ConnectionsError, requests.RequestException):
                raise PolicyUnavailable("the OPA server cannot be reached") from None
            if not loaded:
                raise PolicyLoadError(f"{module.name}: OPA refused the module")

    def decide(self, decision_input: Mapping[str, Any]) -> Decision:
        return self._query(decision_input, "result")

    def explain(self, decision_input: Mapping[str, Any]) -> Decision:
        return self._query(decision_input, "explained")

    def derive_flags(self, derivation_input: Mapping[str, Any]) -> list[DerivedFlag]:
        return read_derived(self._result(derivation_input, FLAGS_PACKAGE, FLAGS_RULE))

    def _query(self, decision_input: Mapping[str, Any], rule: str) -> Decision:
        result = self._result(decision_input, DECISION_PACKAGE, rule)
        return Decision.from_result(result, catalog=self._catalog, policy_version=self._version)

    def _result(self, document: Mapping[str, Any], package: str, rule: str) -> object:
        try:
            answer = self._client.query_rule(dict(document), package, rule)
        except (ConnectionsError, PolicyNotFoundError, requests.RequestException, ValueError):
            raise PolicyUnavailable("the OPA server did not answer") from None
        if not isinstance(answer, Mapping) or "result" not in answer:
            raise PolicyUnavailable("the OPA server returned no result")
        return answer["result"]

    def close(self) -> None:
        self._client.close_connection()
