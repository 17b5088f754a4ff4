"""Structured JSON logs that cannot carry personal data by accident.

Invariants:
- Every event passes an allow-list: a field whose name is not listed is dropped (its name is
  kept in `dropped_fields` so developers notice). Logging `family=` or `birth_date=` emits
  neither the key's value nor anything derived from it.
- Exceptions are logged by type only (`error_type`); their messages and tracebacks may echo
  input from libraries, so they never reach the log.
- Standard-library loggers pass through the same processors. Their messages are text the
  library formatted, which may hold what it was parsing (python-hl7 logs a field's content when
  an escape sequence is bad), so only uvicorn's and alembic's are kept; any other library's
  record keeps its template when it has arguments (the data is in the arguments) and is
  otherwise withheld.
- Logs go to stderr, so CLI output on stdout (e.g. a token) stays clean.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

ALLOWED_FIELDS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "request_id",
        "route",
        "method",
        "status",
        "duration_ms",
        "client_id",
        "org_id",
        "role",
        "reason",
        "error_type",
        "setting",
        "revision",
        "host",
        "port",
        "kid",
        "count",
        "oldest_seconds",
        "environment",
        "version",
        "dropped_fields",
    }
)
MAX_VALUE_CHARS = 200


def exception_type_only(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace exception details with the exception's type name."""
    exc_info = event.pop("exc_info", None)
    event.pop("exception", None)
    event.pop("stack", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        if isinstance(exc_info, BaseException):
            event["error_type"] = type(exc_info).__name__
        elif isinstance(exc_info, tuple) and exc_info[0] is not None:
            event["error_type"] = exc_info[0].__name__
    return event


TRUSTED_LIBRARY_LOGGERS = ("uvicorn", "alembic")  # their messages name settings and states, not data
WITHHELD = "library_message_withheld"


def library_message_template(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """For a standard-library record outside TRUSTED_LIBRARY_LOGGERS: its template, never its text."""
    arguments = event.pop("positional_args", ())  # ProcessorFormatter(pass_foreign_args=True)
    record = event.get("_record")
    if not isinstance(record, logging.LogRecord):
        return event
    if record.name.split(".")[0] in TRUSTED_LIBRARY_LOGGERS:
        return event
    event["event"] = str(record.msg) if arguments and isinstance(record.msg, str) else WITHHELD
    return event


def allow_listed_fields(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Drop every field not on the allow-list; clip long values."""
    kept: dict[str, Any] = {}
    dropped = []
    for key, value in event.items():
        if key in ALLOWED_FIELDS:
            kept[key] = _clip(value)
        elif not key.startswith("_"):  # structlog's private keys (_record, _from_structlog)
            dropped.append(key)
    if dropped:
        kept["dropped_fields"] = sorted(dropped)
    return kept


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "…"
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return [_clip(v) for v in value]
    return type(value).__name__  # unknown objects are not rendered: their repr may hold data


def configure_logging(level: str = "info", *, json: bool = True, stream: TextIO | None = None) -> None:
    """Route structlog and standard logging through the allow-list to one stream."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        exception_type_only,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[library_message_template, *shared],
        pass_foreign_args=True,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            allow_listed_fields,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "alembic"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # alembic narrates every revision check at INFO (readiness probes would flood the log).
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # uvicorn's access log writes the raw request line, query string included: never used.
    logging.getLogger("uvicorn.access").handlers.clear()
    logging.getLogger("uvicorn.access").propagate = False
    logging.getLogger("uvicorn.access").disabled = True
    structlog.configure(
        # filter_by_level first: a call below the level costs no timestamp or context merge
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
