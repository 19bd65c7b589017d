"""Remote carbon intensity providers: the Carbon Aware SDK WebAPI and Electricity Maps.

Both use stdlib ``urllib`` with a timeout. Anything that goes wrong on the way (no
answer, an HTTP error, a timeout, JSON of the wrong shape) raises
:class:`~greenkfp.components._shared.grid_forecast.ProviderUnavailable`: the submission
turns it into "run now" with one warning, a step's meter into the annual average with the
reason. URLs and tokens come from options or environment variables, never from pipeline
YAML. Vertex region names are turned into the provider's own (:mod:`grid_locations`) on
the way out and back on the way in, so callers only see the names they asked for.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from typing import Any, Optional, Sequence

from greenkfp.components._shared.grid_forecast import (
    ForecastPoint,
    ProviderUnavailable,
    format_time,
    parse_time,
)
from greenkfp.components._shared.grid_locations import (
    CARBON_AWARE_SDK,
    ELECTRICITY_MAPS,
    provider_location,
)

CARBON_AWARE_URL_ENV = "GREENKFP_CARBON_AWARE_URL"
ELECTRICITYMAPS_TOKEN_ENV = "ELECTRICITYMAPS_TOKEN"
ELECTRICITYMAPS_URL_ENV = "GREENKFP_ELECTRICITYMAPS_URL"
ELECTRICITYMAPS_URL = "https://api.electricitymap.org"
DEFAULT_TIMEOUT_S = 10.0


class ForecastUnsupported(ProviderUnavailable):
    """HTTP 501: the provider's data source does not forecast (the Carbon Aware SDK's words)."""


def get_json(
    url: str, headers: Optional[dict[str, str]] = None, timeout: float = DEFAULT_TIMEOUT_S
) -> Any:
    """GETs ``url`` and decodes its JSON body (None for an empty one, as HTTP 204 has).

    Raises:
        ProviderUnavailable: No answer within ``timeout``, an HTTP error, or a body that is
            not JSON; the message names the host.
    """
    host = urllib.parse.urlsplit(url).netloc or url
    request = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as err:
        kind = ForecastUnsupported if err.code == 501 else ProviderUnavailable
        raise kind(f"{host} answered HTTP {err.code} {err.reason}") from err
    except (socket.timeout, TimeoutError) as err:
        raise ProviderUnavailable(f"{host} did not answer within {timeout:g} s") from err
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise ProviderUnavailable(f"{host} did not answer within {timeout:g} s") from err
        raise ProviderUnavailable(f"{host} is unreachable: {reason}") from err
    except OSError as err:
        raise ProviderUnavailable(f"{host} failed: {err}") from err
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as err:
        raise ProviderUnavailable(f"{host} answered malformed JSON: {err}") from err


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")


def _duration(value: Any) -> Optional[timedelta]:
    """A point's duration; None when absent or unreadable.

    Minutes as a number (the WebAPI's DTOs) or a .NET ``TimeSpan`` text ``[d.]hh:mm:ss``
    (its ``EmissionsData``).
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return timedelta(minutes=float(value))
    match = _TIMESPAN.match(str(value or "").strip())
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    length = timedelta(
        days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds)
    )
    return length if length > timedelta(0) else None


def _points(items: Any, location: str, keys: tuple[str, str], source: str) -> list[ForecastPoint]:
    """Points of ``location`` from a list of objects holding a time and a value under ``keys``.

    The items' own ``location`` is not used: the Carbon Aware SDK puts the grid zone of
    its data source there (``IE`` for ``northeurope``), not the location asked for.

    Raises:
        ProviderUnavailable: ``items`` is no list of such objects.
    """
    if not isinstance(items, list):
        raise ProviderUnavailable(f"{source} answered no forecast list for {location}")
    points = []
    time_key, value_key = keys
    for item in items:
        try:
            if not isinstance(item, dict):
                raise ValueError(repr(item))
            value = float(item.get(value_key))
            if value != value or value < 0:
                raise ValueError(f"intensity {item.get(value_key)!r}")
            time = parse_time(str(item.get(time_key)))
            points.append(ForecastPoint(time, location, value, _duration(item.get("duration"))))
        except (TypeError, ValueError) as err:
            raise ProviderUnavailable(f"{source} answered a malformed point: {err}") from err
    return points


def _named(locations: Sequence[str], provider: str) -> dict[str, list[str]]:
    """The provider's name of each location -> the names the caller used for it.

    Two Vertex regions can share a provider location (``europe-west1`` and
    ``europe-west4`` both read ``westeurope``): each gets the same points.
    """
    names: dict[str, list[str]] = {}
    for location in locations:
        names.setdefault(provider_location(location, provider), []).append(location)
    return names


def _renamed(points: list[ForecastPoint], locations: list[str]) -> list[ForecastPoint]:
    return [dataclasses.replace(p, location=name) for name in locations for p in points]


class CarbonAwareSdkProvider:
    """Green Software Foundation Carbon Aware SDK WebAPI.

    ``GET /emissions/forecasts/current`` answers a list with one ``EmissionsForecastDTO``
    per location; its ``forecastData`` items are ``{location, timestamp, duration, value}``
    (``value`` in g CO2eq/kWh). ``windowSize`` is left out, so the points are the raw
    forecast and the chooser averages them over the job itself, the same way for every
    provider. ``GET /emissions/bylocations`` and ``/emissions/bylocations/best`` (query
    ``location`` repeated, ``time``, ``toTime``) answer observed ``EmissionsData`` items
    ``{location, time, rating, duration}`` (``duration`` a ``TimeSpan`` text).
    """

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        """Args: url: WebAPI root, e.g. ``http://localhost:8080``; timeout: seconds."""
        self.url = url.rstrip("/")
        self.timeout = timeout

    def forecast(
        self, locations: Sequence[str], start: datetime, end: datetime
    ) -> list[ForecastPoint]:
        """Returns the current forecast for ``locations`` between ``start`` and ``end``.

        Raises:
            ForecastUnsupported: The WebAPI answered HTTP 501 (its data source does not
                forecast); :meth:`best` still answers from history.
            ProviderUnavailable: Anything else that went wrong.
        """
        names = _named(locations, CARBON_AWARE_SDK)
        query = [("location", name) for name in names]
        query += [("dataStartAt", format_time(start)), ("dataEndAt", format_time(end))]
        url = f"{self.url}/emissions/forecasts/current?{urllib.parse.urlencode(query)}"
        answer = get_json(url, timeout=self.timeout)
        if not isinstance(answer, list):
            raise ProviderUnavailable(f"{self} answered {type(answer).__name__}, not a list")
        points = []
        for forecast in answer:
            if not isinstance(forecast, dict):
                raise ProviderUnavailable(f"{self} answered a forecast that is no object")
            name = str(forecast.get("location") or "?")
            data = forecast.get("forecastData")
            found = _points(data, name, ("timestamp", "value"), str(self))
            points += _renamed(found, names.get(name, [name]))
        return points

    def _emissions_data(
        self, path: str, names: dict[str, list[str]], start: datetime, end: datetime
    ) -> list[ForecastPoint]:
        """``GET /emissions/<path>``: points from a list of ``EmissionsData``.

        Items are ``{location, time, rating, duration}``; an empty answer (HTTP 204) is no data.
        """
        query = [("location", name) for name in names]
        query += [("time", format_time(start)), ("toTime", format_time(end))]
        answer = get_json(
            f"{self.url}/emissions/{path}?{urllib.parse.urlencode(query)}", timeout=self.timeout
        )
        if answer is None:
            return []
        if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
            raise ProviderUnavailable(f"{self} answered no list of emissions data")
        points = []
        for item in answer:
            name = str(item.get("location") or "")
            found = _points([item], name, ("time", "rating"), str(self))
            points += _renamed(found, names.get(name) or next(iter(names.values())))
        return points

    def history(self, location: str, start: datetime, end: datetime) -> list[ForecastPoint]:
        """Observed intensity of ``location`` between ``start`` and ``end``.

        ``GET /emissions/bylocations?location=..&time=..&toTime=..``.
        """
        return self._emissions_data("bylocations", _named([location], CARBON_AWARE_SDK), start, end)

    def best(
        self, locations: Sequence[str], start: datetime, end: datetime
    ) -> Optional[ForecastPoint]:
        """The lowest observed point over ``locations`` between ``start`` and ``end``.

        ``GET /emissions/bylocations/best``; None when the WebAPI has no data (HTTP 204).
        """
        names = _named(locations, CARBON_AWARE_SDK)
        points = self._emissions_data("bylocations/best", names, start, end)
        return min(points, key=lambda p: p.g_co2eq_per_kwh, default=None)

    def __str__(self) -> str:
        return f"Carbon Aware SDK at {self.url}"


class ElectricityMapsProvider:
    """Electricity Maps ``GET /v3/carbon-intensity/forecast?zone=Z`` with an ``auth-token``.

    The answer is ``{"zone": ..., "forecast": [{"datetime": ..., "carbonIntensity": ...}]}``;
    one request per zone. ``/v3/carbon-intensity/history`` answers the same shape under
    ``history``.
    """

    def __init__(
        self, token: str, url: str = ELECTRICITYMAPS_URL, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        """Args: token: API token; url: API root; timeout: seconds per request."""
        self.token = token
        self.url = url.rstrip("/")
        self.timeout = timeout

    def forecast(
        self, locations: Sequence[str], start: datetime, end: datetime
    ) -> list[ForecastPoint]:
        """Returns each zone's forecast (the chooser keeps what falls in its window)."""
        points = []
        for zone, names in _named(locations, ELECTRICITY_MAPS).items():
            points += _renamed(self._get("forecast", zone), names)
        return points

    def history(self, location: str, start: datetime, end: datetime) -> list[ForecastPoint]:
        """The zone's last 24 hours (``GET /v3/carbon-intensity/history?zone=Z``)."""
        [(zone, names)] = _named([location], ELECTRICITY_MAPS).items()
        return _renamed(self._get("history", zone), names)

    def _get(self, kind: str, zone: str) -> list[ForecastPoint]:
        query = urllib.parse.urlencode({"zone": zone})
        url = f"{self.url}/v3/carbon-intensity/{kind}?{query}"
        answer = get_json(url, headers={"auth-token": self.token}, timeout=self.timeout)
        data = answer.get(kind) if isinstance(answer, dict) else None
        return _points(data, zone, ("datetime", "carbonIntensity"), str(self))

    def __str__(self) -> str:
        return f"Electricity Maps at {self.url}"
