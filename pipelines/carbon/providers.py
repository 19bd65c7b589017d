"""Remote carbon intensity providers: the Carbon Aware SDK WebAPI and Electricity Maps.

Both use stdlib ``urllib`` with a timeout. Anything that goes wrong on the way (no
answer, an HTTP error, a timeout, JSON of the wrong shape) raises
:class:`~greenkfp.pipelines.carbon.forecast.ProviderUnavailable`, which the submission
turns into "run now" with one warning. URLs and tokens come from options or environment
variables, never from pipeline YAML.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any, Optional, Sequence

from greenkfp.pipelines.carbon.forecast import (
    ForecastPoint,
    ProviderUnavailable,
    format_time,
    parse_time,
)

CARBON_AWARE_URL_ENV = "GREENKFP_CARBON_AWARE_URL"
ELECTRICITYMAPS_TOKEN_ENV = "ELECTRICITYMAPS_TOKEN"
ELECTRICITYMAPS_URL_ENV = "GREENKFP_ELECTRICITYMAPS_URL"
ELECTRICITYMAPS_URL = "https://api.electricitymap.org"
DEFAULT_TIMEOUT_S = 10.0


def get_json(
    url: str, headers: Optional[dict[str, str]] = None, timeout: float = DEFAULT_TIMEOUT_S
) -> Any:
    """GETs ``url`` and decodes its JSON body.

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
        raise ProviderUnavailable(f"{host} answered HTTP {err.code} {err.reason}") from err
    except (socket.timeout, TimeoutError) as err:
        raise ProviderUnavailable(f"{host} did not answer within {timeout:g} s") from err
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise ProviderUnavailable(f"{host} did not answer within {timeout:g} s") from err
        raise ProviderUnavailable(f"{host} is unreachable: {reason}") from err
    except OSError as err:
        raise ProviderUnavailable(f"{host} failed: {err}") from err
    try:
        return json.loads(body)
    except ValueError as err:
        raise ProviderUnavailable(f"{host} answered malformed JSON: {err}") from err


def _points(items: Any, location: str, keys: tuple[str, str], source: str) -> list[ForecastPoint]:
    """Points from a list of objects holding a time and a value under ``keys``.

    An item's own ``location`` wins over ``location``.

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
            points.append(ForecastPoint(time, str(item.get("location") or location), value))
        except (TypeError, ValueError) as err:
            raise ProviderUnavailable(f"{source} answered a malformed point: {err}") from err
    return points


class CarbonAwareSdkProvider:
    """Green Software Foundation Carbon Aware SDK WebAPI, ``GET /emissions/forecasts/current``.

    The answer is a list with one ``EmissionsForecastDTO`` per location; its
    ``forecastData`` items are ``{location, timestamp, duration, value}`` (``value`` in
    g CO2eq/kWh). ``windowSize`` is left out, so the points are the raw forecast and the
    chooser averages them over the job itself, the same way for every provider.
    """

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        """Args: url: WebAPI root, e.g. ``http://localhost:8080``; timeout: seconds."""
        self.url = url.rstrip("/")
        self.timeout = timeout

    def forecast(
        self, locations: Sequence[str], start: datetime, end: datetime
    ) -> list[ForecastPoint]:
        """Returns the current forecast for ``locations`` between ``start`` and ``end``."""
        query = [("location", location) for location in locations]
        query += [("dataStartAt", format_time(start)), ("dataEndAt", format_time(end))]
        url = f"{self.url}/emissions/forecasts/current?{urllib.parse.urlencode(query)}"
        answer = get_json(url, timeout=self.timeout)
        source = f"Carbon Aware SDK at {self.url}"
        if not isinstance(answer, list):
            raise ProviderUnavailable(f"{source} answered {type(answer).__name__}, not a list")
        points = []
        for forecast in answer:
            if not isinstance(forecast, dict):
                raise ProviderUnavailable(f"{source} answered a forecast that is no object")
            location = str(forecast.get("location") or "?")
            data = forecast.get("forecastData")
            points += _points(data, location, ("timestamp", "value"), source)
        return points

    def __str__(self) -> str:
        return f"Carbon Aware SDK at {self.url}"


class ElectricityMapsProvider:
    """Electricity Maps ``GET /v3/carbon-intensity/forecast?zone=Z`` with an ``auth-token``.

    The answer is ``{"zone": ..., "forecast": [{"datetime": ..., "carbonIntensity": ...}]}``;
    one request per zone.
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
        source = f"Electricity Maps at {self.url}"
        points = []
        for zone in locations:
            query = urllib.parse.urlencode({"zone": zone})
            url = f"{self.url}/v3/carbon-intensity/forecast?{query}"
            answer = get_json(url, headers={"auth-token": self.token}, timeout=self.timeout)
            data = answer.get("forecast") if isinstance(answer, dict) else None
            points += _points(data, zone, ("datetime", "carbonIntensity"), source)
        return points

    def __str__(self) -> str:
        return f"Electricity Maps at {self.url}"
