"""A step's emissions at the grid carbon intensity of its own time and place.

codecarbon prices a step's energy at its annual country average. When a provider is
configured, :func:`price_reading` (called once, by ``metering.metered_step``, when the
step's work ends) asks it for the intensity around the step's window
``[end - duration, end]`` at ``GREENKFP_GRID_LOCATION`` and prices the energy at the
time-weighted mean over that window instead; it keeps the annual-average figure beside it,
and the cleanest window of the same length within the provider's data up to
:data:`SEARCH_SPAN` either side of the step (which includes the step's own window, so it is
never above the figure as run).

Configuration comes from the environment of the step (a pod's env or secret, the shell of
``greenkfp run``), never from the pipeline YAML:

* ``GREENKFP_GRID_LOCATION``: where the step runs, a Vertex region (mapped by
  :mod:`grid_locations`) or the provider's own name. Without it nothing is asked.
* the provider, the first that is set: ``GREENKFP_CARBON_FORECAST`` (a forecast or history
  file, local or ``gs://``), ``GREENKFP_CARBON_AWARE_URL`` (Carbon Aware SDK WebAPI,
  ``/emissions/bylocations``), ``ELECTRICITYMAPS_TOKEN`` (Electricity Maps
  ``/v3/carbon-intensity/history``; root ``GREENKFP_ELECTRICITYMAPS_URL``).
* ``GREENKFP_PROVIDER_TIMEOUT``: seconds per request (default 5).

A provider that is down, slow or answers garbage, or data that does not cover the step,
never fails the step: the annual average stays, and ``carbon_intensity_note`` says why.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Optional

from greenkfp.components._shared.energy_reading import EnergyReading
from greenkfp.components._shared.grid_forecast import (
    CarbonIntensityProvider,
    FileProvider,
    ForecastError,
    IntensitySeries,
    format_time,
)
from greenkfp.components._shared.grid_providers import (
    CARBON_AWARE_URL_ENV,
    ELECTRICITYMAPS_TOKEN_ENV,
    ELECTRICITYMAPS_URL,
    ELECTRICITYMAPS_URL_ENV,
    CarbonAwareSdkProvider,
    ElectricityMapsProvider,
)

FORECAST_FILE_ENV = "GREENKFP_CARBON_FORECAST"
GRID_LOCATION_ENV = "GREENKFP_GRID_LOCATION"
PROVIDER_TIMEOUT_ENV = "GREENKFP_PROVIDER_TIMEOUT"
STEP_TIMEOUT_S = 5.0
SEARCH_SPAN = timedelta(hours=24)
"""How far before and after the step the best window is looked for."""


@dataclass(frozen=True)
class WindowPrice:
    """The intensity of a step's window, and of the cleanest window of its length nearby."""

    source: str
    location: str
    g_co2eq_per_kwh: float
    best_g_co2eq_per_kwh: float
    best_start: datetime


def configured_provider(
    environ: Optional[Mapping[str, str]] = None,
) -> Optional[tuple[CarbonIntensityProvider, str]]:
    """The provider and location the environment names; None when no location is set.

    Raises:
        ForecastError: A location is set but no provider, or the forecast file is bad.
    """
    env = os.environ if environ is None else environ
    location = env.get(GRID_LOCATION_ENV, "").strip()
    if not location:
        return None
    timeout = float(env.get(PROVIDER_TIMEOUT_ENV) or STEP_TIMEOUT_S)
    if env.get(FORECAST_FILE_ENV):
        return FileProvider(env[FORECAST_FILE_ENV]), location
    if env.get(CARBON_AWARE_URL_ENV):
        return CarbonAwareSdkProvider(env[CARBON_AWARE_URL_ENV], timeout), location
    if env.get(ELECTRICITYMAPS_TOKEN_ENV):
        url = env.get(ELECTRICITYMAPS_URL_ENV) or ELECTRICITYMAPS_URL
        return ElectricityMapsProvider(env[ELECTRICITYMAPS_TOKEN_ENV], url, timeout), location
    raise ForecastError(
        f"${GRID_LOCATION_ENV} is set but no provider: set ${FORECAST_FILE_ENV}, "
        f"${CARBON_AWARE_URL_ENV} or ${ELECTRICITYMAPS_TOKEN_ENV}"
    )


def price_window(
    provider: CarbonIntensityProvider, location: str, start: datetime, end: datetime
) -> WindowPrice:
    """The provider's mean intensity over ``[start, end)`` and the best window of that length.

    Raises:
        ForecastError: The provider's data does not cover the window.
        ProviderUnavailable: The provider is down, slow, or answered malformed data.
    """
    earliest, latest = start - SEARCH_SPAN, end + SEARCH_SPAN
    points = [p for p in provider.history(location, earliest, latest) if p.location == location]
    if not points:
        raise ForecastError(f"{provider} has no data for {location}")
    series = IntensitySeries(location, points)
    length = end - start
    as_run = series.mean(start, length)
    if as_run is None:
        raise ForecastError(
            f"{provider} covers {location} for {series.covers()}, not the step "
            f"({format_time(start)} .. {format_time(end)})"
        )
    best_start, best = series.best_window(length, earliest, latest) or (start, as_run)
    return WindowPrice(str(provider), location, as_run, best, best_start)


def price_reading(
    reading: EnergyReading,
    ended_at: Optional[datetime] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> None:
    """Prices a filled reading at its own window when a provider is configured.

    Always records the annual-average figures; replaces ``emissions_kg_co2eq`` and
    ``carbon_intensity_g_per_kwh`` by the provider's when it answers for the window. Never
    raises: whatever goes wrong leaves the annual average and says why (also on stderr).

    Args:
        reading: What ``energy_meter`` filled.
        ended_at: When the metered work ended (default: now).
        environ: The configuration (default: ``os.environ``).
    """
    reading.emissions_kg_co2eq_annual_average = reading.emissions_kg_co2eq
    reading.carbon_intensity_annual_average_g_per_kwh = reading.carbon_intensity_g_per_kwh
    reading.carbon_intensity_source = f"annual average ({reading.country_iso_code})"
    try:
        configured = configured_provider(environ)
        if configured is None:
            reading.carbon_intensity_note = f"no provider configured (${GRID_LOCATION_ENV})"
            return
        provider, location = configured
        reading.carbon_intensity_location = location
        end = ended_at or datetime.now(timezone.utc)
        price = price_window(provider, location, end - timedelta(seconds=reading.duration_s), end)
    except Exception as err:  # the step's work is done: pricing it must not fail it
        reading.carbon_intensity_note = f"{err}; the annual average was used"
        print(f"greenkfp: carbon intensity: {reading.carbon_intensity_note}", file=sys.stderr)
        return
    kwh = reading.energy_kwh
    reading.carbon_intensity_source = price.source
    reading.carbon_intensity_g_per_kwh = price.g_co2eq_per_kwh
    reading.emissions_kg_co2eq = kwh * price.g_co2eq_per_kwh / 1000.0
    reading.carbon_intensity_best_window_g_per_kwh = price.best_g_co2eq_per_kwh
    reading.emissions_kg_co2eq_best_window = kwh * price.best_g_co2eq_per_kwh / 1000.0
    reading.best_window_start = format_time(price.best_start)
    reading.carbon_intensity_note = ""


def _number(value: Any) -> Optional[float]:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def run_emissions(steps: Iterable[Optional[Mapping[str, Any]]]) -> dict[str, Any]:
    """A run's emissions as run, at the annual average, and at each step's best window.

    A step that no provider priced counts at its figure as run in the best-window total
    (there was nothing to compare it with); ``steps_priced`` says how many were priced.

    Args:
        steps: Each step's energy figures (``EnergyReading`` fields); None for a step that
            did not run.

    Returns:
        ``emissions_kg_as_run``, ``emissions_kg_annual_average``,
        ``emissions_kg_best_window`` (kg CO2eq), ``steps_priced``, ``steps_metered`` and
        ``carbon_intensity_source`` (the distinct sources, ``", "``-joined; ``""`` when
        the steps do not say).
    """
    as_run = annual = best = 0.0
    priced = metered = 0
    sources: list[str] = []
    for energy in steps:
        if energy is None:
            continue
        metered += 1
        kg = _number(energy.get("emissions_kg_co2eq")) or 0.0
        as_run += kg
        annual_kg = _number(energy.get("emissions_kg_co2eq_annual_average"))
        annual += kg if annual_kg is None else annual_kg
        best_kg = _number(energy.get("emissions_kg_co2eq_best_window"))
        best += kg if best_kg is None else best_kg
        priced += best_kg is not None
        source = str(energy.get("carbon_intensity_source") or "")
        if source and source not in sources:
            sources.append(source)
    return {
        "emissions_kg_as_run": as_run,
        "emissions_kg_annual_average": annual,
        "emissions_kg_best_window": best,
        "steps_priced": priced,
        "steps_metered": metered,
        "carbon_intensity_source": ", ".join(sources),
    }
