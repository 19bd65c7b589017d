"""Pick where and when to run: the (location, start) with the lowest mean forecast intensity.

Each location's points are a step function: a point holds from its time until the next
point (the last one for the typical step of that forecast). A job of length ``job`` that
starts at ``s`` is charged the time-weighted mean of that function over ``[s, s + job)``.
Candidate starts are ``now`` and every point time after it with ``start + job`` inside
the window ``now .. now + within``. Without a forecast, :func:`choose_from_history` picks
a location from the provider's best observed point instead (now, not later).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional, Protocol, Sequence

from greenkfp.components._shared.grid_forecast import (
    ForecastError,
    ForecastPoint,
    IntensitySeries,
    ProviderUnavailable,
    format_time,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 3600}


def parse_duration(text: str) -> timedelta:
    """``8h``, ``90m``, ``1.5h``, ``2d``, ``30s``; a bare number is hours.

    Raises:
        ForecastError: The text is no such duration.
    """
    match = _DURATION.match(str(text))
    if not match:
        raise ForecastError(f"duration {text!r} is not like 8h, 90m, 1.5h or 2d")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@dataclass(frozen=True)
class Choice:
    """Where and when to run, and what it saves against running now in the default location."""

    start_time: datetime
    location: str
    g_co2eq_per_kwh: Optional[float]
    now_g_co2eq_per_kwh: Optional[float]
    saving_fraction: float
    default_location: str
    fallback: bool = False
    reason: Optional[str] = None
    basis: str = "forecast"

    def summary(self) -> dict[str, Any]:
        """The fields of the JSON line ``submit --carbon-aware`` ends with."""
        return {
            "start_time": format_time(self.start_time),
            "location": self.location,
            "g_co2eq_per_kwh": _round(self.g_co2eq_per_kwh),
            "now_g_co2eq_per_kwh": _round(self.now_g_co2eq_per_kwh),
            "saving_fraction": round(self.saving_fraction, 4),
            "default_location": self.default_location,
            "fallback": self.fallback,
            "reason": self.reason,
            "basis": self.basis,
        }


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 2)


def fallback_choice(default_location: str, now: datetime, reason: str) -> Choice:
    """Run now in the default location, because no usable forecast came back."""
    return Choice(now, default_location, None, None, 0.0, default_location, True, reason, "none")


class BestObserved(Protocol):
    """A provider that answers the lowest observed point over locations and a time range."""

    def best(
        self, locations: Sequence[str], start: datetime, end: datetime
    ) -> Optional[ForecastPoint]:
        """The lowest point, or None when there is no data."""


def choose_from_history(
    provider: BestObserved,
    locations: Sequence[str],
    now: datetime,
    within: timedelta,
    reason: str,
) -> Choice:
    """Without a forecast, the location with the cleanest observed point, run now.

    Over the last ``within`` (as long back as the job may wait ahead), the provider's best
    point over every location is compared with the default location's own best point: a
    choice of place from history, not of time.

    Raises:
        ProviderUnavailable: The provider failed, or has no data for the default location.
    """
    best = provider.best(locations, now - within, now)
    default = provider.best(locations[:1], now - within, now)
    if best is None or default is None:
        raise ProviderUnavailable(f"no forecast ({reason}) and no history for {locations[0]}")
    value, now_value = best.g_co2eq_per_kwh, default.g_co2eq_per_kwh
    if now_value <= value:
        best, value = default, now_value
    saving = 1 - value / now_value if now_value > 0 else 0.0
    return Choice(
        now, best.location, value, now_value, saving, locations[0], False, reason, "history"
    )


def choose(
    points: Sequence[ForecastPoint],
    locations: Sequence[str],
    now: datetime,
    within: timedelta,
    job: timedelta,
) -> Choice:
    """The cleanest (location, start) for a job of length ``job`` within ``now + within``.

    Args:
        points: Forecast points (any locations; only ``locations`` count).
        locations: Allowed locations; the first is the default (where "run now" runs).
        now: The current time (tz-aware).
        within: How long from now the job may finish by.
        job: The job's expected length.

    Raises:
        ForecastError: The window is shorter than the job, a location has no forecast,
            or the forecast lies entirely in the past or does not cover running now.
    """
    if job <= timedelta(0):
        raise ForecastError("the job length must be more than 0")
    if within < job:
        raise ForecastError(
            f"the window ({_hours(within)}) is shorter than the job ({_hours(job)})"
        )
    by_location: dict[str, list[ForecastPoint]] = {}
    for point in points:
        by_location.setdefault(point.location, []).append(point)
    unknown = [location for location in locations if location not in by_location]
    if unknown:
        known = ", ".join(sorted(by_location)) or "none"
        raise ForecastError(
            f"no forecast for region(s) {', '.join(unknown)} (the forecast has: {known})"
        )
    series = [IntensitySeries(location, by_location[location]) for location in locations]
    latest = max(s.end for s in series)
    if latest <= now:
        raise ForecastError(
            f"the forecast is entirely in the past: it ends {format_time(latest)}, "
            f"now is {format_time(now)}"
        )
    default = series[0]
    now_value = default.mean(now, job)
    if now_value is None:
        raise ForecastError(
            f"the forecast for {default.location} covers {format_time(default.times[0])} .. "
            f"{format_time(default.end)}, not the job run now ({format_time(now)} + {_hours(job)})"
        )
    best = (now_value, now, default.location)
    last_start = now + within - job
    for s in series:
        for start in [now] + [t for t in s.times if now < t <= last_start]:
            value = s.mean(start, job)
            if value is not None and value < best[0]:
                best = (value, start, s.location)
    value, start, location = best
    saving = 1 - value / now_value if now_value > 0 else 0.0
    return Choice(start, location, value, now_value, saving, default.location)


def _hours(length: timedelta) -> str:
    return f"{length.total_seconds() / 3600:g} h"
