"""When each entry may have been recorded, from the times witnesses cosigned checkpoints
(reference/audit-log.md 2.9 step 5, T7).

A witness cosignature says "this tree existed by then". So an entry inside a checkpoint cosigned
at time t was recorded by t (allowing for clock skew): a later `recorded` is post-dated. And an
entry outside a checkpoint cosigned at t was appended after t: a `recorded` long before t (more
than a record can wait to be integrated, plus the witness round) is backdated.

Bounds are written as the leaves write time (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, fixed width), so a
bound and a `recorded` value compare as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from audit.record import timestamp

DEFAULT_CLOCK_SKEW = 300  # seconds between the gateway's clock and a witness's
DEFAULT_MAX_LAG = 900  # seconds a record may take from `recorded` to a cosigned checkpoint


@dataclass(frozen=True)
class Window:
    end: int  # the window covers entries below this index (and from the previous window's end)
    earliest: str | None  # None: no bound
    latest: str | None


def recorded_windows(
    witnessed: list[tuple[int, int]], *, clock_skew: int = DEFAULT_CLOCK_SKEW, max_lag: int = DEFAULT_MAX_LAG
) -> list[Window]:
    """The windows for entries split at each witnessed size, from (size, cosigned at) pairs;
    the last window is open-ended."""
    points = sorted(witnessed)
    windows: list[Window] = []
    start = 0
    for position, (size, _time) in enumerate(points):
        if size <= start:
            continue
        windows.append(_window(size, points, position, clock_skew, max_lag))
        start = size
    windows.append(_window(2**63, points, len(points), clock_skew, max_lag))
    return windows


def _window(end: int, points: list[tuple[int, int]], position: int, skew: int, lag: int) -> Window:
    covering = [time for _size, time in points[position:]]  # checkpoints that include the entries
    excluding = [time for _size, time in points[:position]]  # checkpoints the entries came after
    latest = _format(min(covering) + skew) if covering else None
    earliest = _format(max(excluding) - lag) if excluding else None
    return Window(end=end, earliest=earliest, latest=latest)


def _format(seconds: int) -> str:
    return timestamp(datetime.fromtimestamp(max(0, seconds), UTC))


def out_of_window(recorded: object, window: Window) -> str | None:
    """Why `recorded` cannot be true in this window, or None."""
    if not isinstance(recorded, str) or len(recorded) != 27 or not recorded.endswith("Z"):
        return "the record's time is not a timestamp"
    if window.latest is not None and recorded > window.latest:
        return f"recorded {recorded}, after a checkpoint including it was cosigned: post-dated"
    if window.earliest is not None and recorded < window.earliest:
        return f"recorded {recorded}, long before a checkpoint without it was cosigned: backdated"
    return None
