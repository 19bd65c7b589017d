"""What an energy reading is: its figures, the country that prices its carbon, its files.

The contract of :mod:`greenkfp.components._shared.energy`'s meter, apart from the meter so
that reading, summing and checking figures needs neither codecarbon nor its set-up.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import re
from typing import Any, Optional

from greenkfp.components._shared.step_keys import ENERGY_KEYS, ENERGY_METADATA_KEYS

DEFAULT_COUNTRY_ISO_CODE = "USA"
"""Country used when neither the argument nor ``GREENKFP_COUNTRY`` names one."""

COUNTRY_ENV_VAR = "GREENKFP_COUNTRY"
"""Environment variable that sets the country when no argument is given."""

CODECARBON_SUBDIR = "codecarbon"
EMISSIONS_FILE_NAME = "emissions.csv"
LOG_FILE_NAME = "codecarbon.log"
LOCK_FILE_NAME = ".energy.lock"
BOAMPS_FILE_PREFIX = "boamps_report_"
"""codecarbon's BoAmps report of a block: ``boamps_report_<run id>.json``."""

ENERGY_METHODS = frozenset(
    {
        "rapl",
        "intel_power_gadget",
        "powermetrics",
        "raspberry_pmic",
        "cpu_load_estimate",
        "tdp_estimate",
        "constant_estimate",
        "unknown",
        "unavailable",
    }
)
"""Values the CPU part of :attr:`EnergyReading.energy_method` can take.

A GPU part (``nvml``, ``amdsmi`` or ``powermetrics``) may follow after ``+``.
"""

_ALPHA3 = re.compile(r"^[A-Z]{3}$")


@dataclasses.dataclass
class EnergyReading:
    """What one metered block consumed, as measured or estimated by codecarbon.

    The meter yields an empty reading and fills it when the block exits.

    Attributes:
        duration_s: Seconds between the tracker's start and stop.
        energy_kwh: The process's energy (CPU + GPU + RAM), in kWh: its share of the node's
            (see :mod:`energy_attribution` for the formulas).
        cpu_energy_kwh: The process's CPU energy, in kWh.
        gpu_energy_kwh: GPU energy, in kWh (0 without a metered GPU).
        ram_energy_kwh: The process's RAM energy, in kWh (its share of a model estimate).
        emissions_kg_co2eq: Emissions, in kg CO2-equivalent.
        carbon_intensity_g_per_kwh: Grid carbon intensity applied, in g CO2eq per kWh.
        country_iso_code: ISO 3166-1 alpha-3 code of the grid's country.
        region: Region within the country (e.g. a US state), ``""`` when none.
        energy_method: How the energy was obtained, see :func:`energy_meter`.
        cpu_model: CPU model that codecarbon detected.
        gpu_model: GPU model(s) that codecarbon detected, ``""`` when none.
        energy_kwh_low: Low bound of ``energy_kwh`` that follows from the method.
        energy_kwh_high: High bound of ``energy_kwh`` that follows from the method.
        node_energy_kwh: codecarbon's figure for the whole node over the same time.
        cpu_share: The process tree's share of the node's busy CPU time, 0 to 1.
        memory_share: The share of the node's memory charged to the process, 0 to 1.
        cpu_tdp_w: The CPU TDP an estimate priced, in W (0 when counters were read).
        kepler_energy_kwh: Kepler's CPU energy for the step's pod over the same window,
            in kWh; None when no cross-check was made or Kepler did not answer.
        cpu_tdp_source: Where ``cpu_tdp_w`` came from.
        kepler_status: ``ok``, or why ``kepler_energy_kwh`` is missing.
        emissions_kg_co2eq_annual_average: The emissions at codecarbon's annual average
            (what ``emissions_kg_co2eq`` is when no provider priced the step). This and
            the fields below stay None until ``grid_intensity.price_reading`` (called by
            ``metered_step``) fills them.
        carbon_intensity_annual_average_g_per_kwh: That annual average, g CO2eq/kWh.
        emissions_kg_co2eq_best_window: The emissions in the cleanest window of the same
            length that the provider's data held; None when no provider priced the step.
        carbon_intensity_best_window_g_per_kwh: That window's mean intensity, or None.
        carbon_intensity_source: What priced ``emissions_kg_co2eq``: the provider, or
            ``annual average (<country>)``.
        carbon_intensity_location: The provider's location asked for.
        carbon_intensity_note: Why the annual average was used, ``""`` when it was not.
        best_window_start: When the best window starts (ISO 8601).
    """

    duration_s: float = 0.0
    energy_kwh: float = 0.0
    cpu_energy_kwh: float = 0.0
    gpu_energy_kwh: float = 0.0
    ram_energy_kwh: float = 0.0
    emissions_kg_co2eq: float = 0.0
    carbon_intensity_g_per_kwh: float = 0.0
    country_iso_code: str = ""
    region: str = ""
    energy_method: str = ""
    cpu_model: str = ""
    gpu_model: str = ""
    energy_kwh_low: float = 0.0
    energy_kwh_high: float = 0.0
    node_energy_kwh: float = 0.0
    cpu_share: float = 0.0
    memory_share: float = 0.0
    cpu_tdp_w: float = 0.0
    kepler_energy_kwh: Optional[float] = None
    cpu_tdp_source: str = ""
    kepler_status: str = ""
    # The grid intensity that priced the emissions (components/_shared/grid_intensity.py).
    # None until priced; the best window stays None when no provider priced the step.
    emissions_kg_co2eq_annual_average: Optional[float] = None
    carbon_intensity_annual_average_g_per_kwh: Optional[float] = None
    emissions_kg_co2eq_best_window: Optional[float] = None
    carbon_intensity_best_window_g_per_kwh: Optional[float] = None
    carbon_intensity_source: Optional[str] = None
    carbon_intensity_location: Optional[str] = None
    carbon_intensity_note: Optional[str] = None
    best_window_start: Optional[str] = None

    def metrics(self) -> dict[str, float]:
        """Returns the numeric fields (``step_keys.ENERGY_KEYS``) that have a value."""
        values = {name: getattr(self, name) for name in ENERGY_KEYS}
        return {name: float(value) for name, value in values.items() if value is not None}

    def metadata(self) -> dict[str, str]:
        """Returns the known descriptive fields (``step_keys.ENERGY_METADATA_KEYS``) as strings."""
        values = {name: getattr(self, name) for name in ENERGY_METADATA_KEYS}
        return {name: str(value) for name, value in values.items() if value is not None}

    def to_dict(self) -> dict[str, Any]:
        """Returns every known field, numbers and strings (None ones left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def codecarbon_dir(output_dir: str) -> str:
    """Returns the folder under ``output_dir`` that holds codecarbon's files."""
    return os.path.join(output_dir, CODECARBON_SUBDIR)


@functools.lru_cache(maxsize=1)
def _known_country_codes() -> frozenset[str] | None:
    """Country codes in codecarbon's bundled energy-mix data, without importing codecarbon.

    Returns:
        The codes, or None when codecarbon (or its data file) is not installed, as in an
        authoring environment that has only kfp.
    """
    try:
        spec = importlib.util.find_spec("codecarbon")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = os.path.join(location, "data", "private_infra", "global_energy_mix.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return frozenset(json.load(f))
    return None


def resolve_country(country_iso_code: str | None) -> str:
    """Resolves the country whose grid intensity applies to the metered work.

    Order: the argument, then the ``GREENKFP_COUNTRY`` environment variable, then
    ``DEFAULT_COUNTRY_ISO_CODE`` (``"USA"``). None, an empty or a blank string count as not
    given, so that a KFP string parameter left empty falls through. The code is
    upper-cased.

    Args:
        country_iso_code: ISO 3166-1 alpha-3 code (e.g. ``"FRA"``), or None.

    Returns:
        The upper-case alpha-3 code.

    Raises:
        ValueError: The resolved value is not three letters, or codecarbon (when
            installed) has no energy-mix data for it. The message names the value and
            where it came from.
    """
    source = "country_iso_code"
    value = country_iso_code.strip() if country_iso_code else ""
    if not value:
        source = COUNTRY_ENV_VAR
        value = os.environ.get(COUNTRY_ENV_VAR, "").strip()
    if not value:
        return DEFAULT_COUNTRY_ISO_CODE
    code = value.upper()
    if not _ALPHA3.match(code):
        raise ValueError(
            f"{source}={value!r} is not an ISO 3166-1 alpha-3 country code "
            "(three letters, e.g. 'USA', 'FRA', 'DEU')"
        )
    known = _known_country_codes()
    if known is not None and code not in known:
        raise ValueError(
            f"{source}={value!r}: codecarbon has no grid carbon-intensity data for this "
            "country code (see codecarbon/data/private_infra/global_energy_mix.json)"
        )
    return code
