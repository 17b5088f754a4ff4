"""Consent Gateway: the application edge and composition root (HTTP, CLI, settings, stores)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("consent-gateway")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+source"
