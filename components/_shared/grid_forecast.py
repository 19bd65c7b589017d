"""Grid carbon intensity over time: points, a location's series, and the file provider.

A forecast (or history) file is CSV with the header ``time,location,g_co2eq_per_kwh``
(ISO 8601 times with a zone, e.g. ``2024-06-01T13:00:00Z``), or a JSON list of objects
with those keys. Each point holds from its time until the next point of the same location
(:class:`IntensitySeries`). Used by ``greenkfp submit --carbon-aware`` to choose a window
and by every step's meter to price its own window (:mod:`grid_intensity`).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional, Protocol, Sequence

from greenkfp.components._shared import io as uri_io

FIELDS = ("time", "location", "g_co2eq_per_kwh")


class ForecastError(ValueError):
    """Bad forecast input or request (the command exits 2): the message names the problem."""


class ProviderUnavailable(RuntimeError):
    """A remote provider is down, slow, or answered malformed data (the command falls back)."""


@dataclass(frozen=True)
class ForecastPoint:
    """Grid carbon intensity at one place from one time on (for ``duration`` when known)."""

    time: datetime
    location: str
    g_co2eq_per_kwh: float
    duration: Optional[timedelta] = None


class CarbonIntensityProvider(Protocol):
    """Anything that returns intensity points for some locations over a time range.

    ``forecast`` serves the choice of a window before a run; ``history`` the pricing of a
    step's own window after it ran (the points around it, observed where the provider has
    them).
    """

    def forecast(
        self, locations: Sequence[str], start: datetime, end: datetime
    ) -> list[ForecastPoint]:
        """Returns the points it has for ``locations`` between ``start`` and ``end``."""

    def history(self, location: str, start: datetime, end: datetime) -> list[ForecastPoint]:
        """Returns the points it has for ``location`` around ``start`` .. ``end``."""


def parse_time(text: str) -> datetime:
    """Parses an ISO 8601 time that carries a zone (``Z`` or ``+hh:mm``).

    Raises:
        ValueError: The text is no ISO 8601 time, or it has no zone.
    """
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no zone (add Z or +hh:mm)")
    return value


def format_time(value: datetime) -> str:
    """``2024-06-01T13:00:00Z``: UTC, whole seconds."""
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def point_from(record: dict[str, Any]) -> ForecastPoint:
    """One point from a mapping with the keys ``time, location, g_co2eq_per_kwh``.

    Raises:
        ValueError: A key is missing, the time has no zone, or the value is not a finite number.
    """
    missing = [key for key in FIELDS if record.get(key) in (None, "")]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    value = float(record["g_co2eq_per_kwh"])
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"g_co2eq_per_kwh {record['g_co2eq_per_kwh']!r} is not a number >= 0")
    return ForecastPoint(parse_time(str(record["time"])), str(record["location"]).strip(), value)


def read_forecast_file(path: str | Path) -> list[ForecastPoint]:
    """Reads every point of a CSV or JSON forecast file (JSON when it ends in ``.json``).

    Raises:
        ForecastError: The file is missing or a row is malformed (names the file and row).
    """
    if not uri_io.is_local(str(path)):
        return _read_points(str(path), uri_io.read_bytes(str(path)).decode("utf-8"))
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ForecastError(f"cannot read forecast file {path}: {err.strerror}") from err
    return _read_points(path, text)


def _read_points(path: Any, text: str) -> list[ForecastPoint]:
    suffix = str(path).rsplit(".", 1)[-1].lower()
    if suffix == "json":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as err:
            raise ForecastError(f"forecast file {path} is not JSON: {err}") from err
        if not isinstance(records, list):
            raise ForecastError(f"forecast file {path} must hold a JSON list of points")
        rows = list(enumerate(records))
    else:
        reader = csv.DictReader(text.splitlines())
        missing = [key for key in FIELDS if key not in (reader.fieldnames or [])]
        if missing:
            raise ForecastError(
                f"forecast file {path} needs the columns {','.join(FIELDS)} "
                f"(missing {', '.join(missing)})"
            )
        rows = [(number, row) for number, row in enumerate(reader, start=2)]
    points = []
    for where, record in rows:
        try:
            if not isinstance(record, dict):
                raise ValueError("not an object")
            points.append(point_from(record))
        except ValueError as err:
            label = "row" if suffix != "json" else "item"
            raise ForecastError(f"forecast file {path}, {label} {where}: {err}") from err
    if not points:
        raise ForecastError(f"forecast file {path} holds no points")
    return points


class FileProvider:
    """Forecast points read from a CSV or JSON file (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        """Reads the file now, so a bad file fails before anything else happens."""
        self.path = path
        self.points = read_forecast_file(path)

    def forecast(
        self, locations: Sequence[str], start: datetime, end: datetime
    ) -> list[ForecastPoint]:
        """Returns the file's points for ``locations`` (all of them; the chooser windows them)."""
        wanted = set(locations)
        return [point for point in self.points if point.location in wanted]

    def history(self, location: str, start: datetime, end: datetime) -> list[ForecastPoint]:
        """Returns the file's points for ``location`` (the caller windows them)."""
        return self.forecast([location], start, end)

    def __str__(self) -> str:
        return f"forecast file {self.path}"


class IntensitySeries:
    """One location's points as a step function of time.

    A point holds until the next one; the last for its own ``duration`` when the provider
    gave one, else for the median step between points.
    """

    def __init__(self, location: str, points: Sequence[ForecastPoint]) -> None:
        """Raises: ForecastError: fewer than two distinct times and no duration."""
        points = sorted(points, key=lambda p: p.time)
        times = [p.time for p in points]
        gaps = [later - earlier for earlier, later in zip(times, times[1:]) if later > earlier]
        last_holds = points[-1].duration if points else None
        if not points or not (gaps or last_holds):
            raise ForecastError(
                f"forecast for {location} has {len(points)} distinct time(s); it needs two "
                "or more to know how long each point holds"
            )
        self.location = location
        self.times = times
        self.values = [p.g_co2eq_per_kwh for p in points]
        self.end = times[-1] + (last_holds or statistics.median(gaps))

    def covers(self) -> str:
        """``<first> .. <end>``, for messages."""
        return f"{format_time(self.times[0])} .. {format_time(self.end)}"

    def mean(self, start: datetime, length: timedelta) -> Optional[float]:
        """Time-weighted mean over ``[start, start + length)``; None when not covered."""
        stop = start + length
        if start < self.times[0] or stop > self.end:
            return None
        if length <= timedelta(0):
            return self.value_at(start)
        total = 0.0
        for i, begins in enumerate(self.times):
            ends = self.times[i + 1] if i + 1 < len(self.times) else self.end
            overlap = (min(ends, stop) - max(begins, start)).total_seconds()
            if overlap > 0:
                total += overlap * self.values[i]
        return total / length.total_seconds()

    def value_at(self, when: datetime) -> Optional[float]:
        """The value that holds at ``when``; None outside the series."""
        if when < self.times[0] or when >= self.end:
            return None
        return next(v for t, v in zip(reversed(self.times), reversed(self.values)) if t <= when)

    def best_window(
        self, length: timedelta, earliest: datetime, latest_end: datetime
    ) -> Optional[tuple[datetime, float]]:
        """The start and mean of the cleanest window of ``length`` inside the bounds.

        The minimum of a step function's moving mean starts or ends on a point's time, so
        those starts (and ``earliest``) are the candidates.

        Returns:
            ``(start, mean)``, or None when no window of that length fits.
        """
        candidates = {earliest}
        for time in [*self.times, self.end]:
            candidates.update((time, time - length))
        best: Optional[tuple[datetime, float]] = None
        for start in sorted(candidates):
            if start < earliest or start + length > latest_end:
                continue
            value = self.mean(start, length)
            if value is not None and (best is None or value < best[1]):
                best = (start, value)
        return best
