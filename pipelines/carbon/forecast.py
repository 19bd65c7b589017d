"""Forecast points, the provider interface, and the file provider (CSV or JSON).

A forecast file is CSV with the header ``time,location,g_co2eq_per_kwh`` (ISO 8601 times
with a zone, e.g. ``2024-06-01T13:00:00Z``), or a JSON list of objects with those keys.
Each point holds from its time until the next point of the same location.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, Sequence

FIELDS = ("time", "location", "g_co2eq_per_kwh")


class ForecastError(ValueError):
    """Bad forecast input or request (the command exits 2): the message names the problem."""


class ProviderUnavailable(RuntimeError):
    """A remote provider is down, slow, or answered malformed data (the command falls back)."""


@dataclass(frozen=True)
class ForecastPoint:
    """Grid carbon intensity at one place from one time on."""

    time: datetime
    location: str
    g_co2eq_per_kwh: float


class CarbonIntensityProvider(Protocol):
    """Anything that returns forecast points for some locations over a time range."""

    def forecast(
        self, locations: Sequence[str], start: datetime, end: datetime
    ) -> list[ForecastPoint]:
        """Returns the points it has for ``locations`` between ``start`` and ``end``."""


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
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ForecastError(f"cannot read forecast file {path}: {err.strerror}") from err
    if path.suffix.lower() == ".json":
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
            label = "row" if path.suffix.lower() != ".json" else "item"
            raise ForecastError(f"forecast file {path}, {label} {where}: {err}") from err
    if not points:
        raise ForecastError(f"forecast file {path} holds no points")
    return points


class FileProvider:
    """Forecast points read from a CSV or JSON file (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        """Reads the file now, so a bad file fails before anything else happens."""
        self.path = Path(path)
        self.points = read_forecast_file(self.path)

    def forecast(
        self, locations: Sequence[str], start: datetime, end: datetime
    ) -> list[ForecastPoint]:
        """Returns the file's points for ``locations`` (all of them; the chooser windows them)."""
        wanted = set(locations)
        return [point for point in self.points if point.location in wanted]

    def __str__(self) -> str:
        return f"forecast file {self.path}"
