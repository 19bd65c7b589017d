"""Vertex AI regions named as each carbon intensity provider names its locations.

Vertex AI (and the rest of Google Cloud) names regions ``us-central1``, ``europe-west4``;
the Carbon Aware SDK names Azure regions (``centralus``, ``westeurope``: its default
location source is ``azure-regions.json``) and Electricity Maps names grid zones (``NL``,
``US-MIDW-MISO``). :func:`provider_location` turns a Vertex region into the provider's
name. A name that is not shaped like a Vertex region (``westus``, ``NL``) is taken as the
provider's own name and passed through; a Vertex region missing from the table is an error
that names the table and ``GREENKFP_LOCATION_MAP``.

The Azure region is the one in the same metro where there is one; otherwise the nearest
(marked "nearest" below), whose grid can differ. The zone is the grid the Google data
centre draws from. Forecast and history files name locations as they like: no mapping.
"""

from __future__ import annotations

import os
import re
from typing import Optional

from greenkfp.components._shared.grid_forecast import ForecastError

CARBON_AWARE_SDK = "carbon-aware-sdk"
ELECTRICITY_MAPS = "electricitymaps"

LOCATION_MAP_ENV = "GREENKFP_LOCATION_MAP"
"""Extra or overriding entries: ``us-east1=eastus,europe-west1=BE`` (any provider)."""

VERTEX_REGIONS: dict[str, dict[str, str]] = {
    # Vertex region: {provider: location}; comments say where and why.
    "us-central1": {CARBON_AWARE_SDK: "centralus", ELECTRICITY_MAPS: "US-MIDW-MISO"},  # Iowa
    "us-east1": {CARBON_AWARE_SDK: "eastus", ELECTRICITY_MAPS: "US-CAR-SC"},  # S. Carolina; nearest
    "us-east4": {CARBON_AWARE_SDK: "eastus", ELECTRICITY_MAPS: "US-MIDA-PJM"},  # Virginia
    "us-west1": {CARBON_AWARE_SDK: "westus2", ELECTRICITY_MAPS: "US-NW-BPAT"},  # Oregon; nearest
    "us-west2": {CARBON_AWARE_SDK: "westus", ELECTRICITY_MAPS: "US-CAL-CISO"},  # Los Angeles
    "us-west4": {CARBON_AWARE_SDK: "westus3", ELECTRICITY_MAPS: "US-SW-NEVP"},  # Las Vegas; nearest
    "northamerica-northeast1": {CARBON_AWARE_SDK: "canadaeast", ELECTRICITY_MAPS: "CA-QC"},
    "southamerica-east1": {CARBON_AWARE_SDK: "brazilsouth", ELECTRICITY_MAPS: "BR-CS"},
    "europe-west1": {CARBON_AWARE_SDK: "westeurope", ELECTRICITY_MAPS: "BE"},  # nearest
    "europe-west2": {CARBON_AWARE_SDK: "uksouth", ELECTRICITY_MAPS: "GB"},  # London
    "europe-west3": {CARBON_AWARE_SDK: "germanywestcentral", ELECTRICITY_MAPS: "DE"},  # Frankfurt
    "europe-west4": {CARBON_AWARE_SDK: "westeurope", ELECTRICITY_MAPS: "NL"},  # Netherlands
    "europe-west6": {CARBON_AWARE_SDK: "switzerlandnorth", ELECTRICITY_MAPS: "CH"},  # Zurich
    "europe-west9": {CARBON_AWARE_SDK: "francecentral", ELECTRICITY_MAPS: "FR"},  # Paris
    "europe-north1": {CARBON_AWARE_SDK: "swedencentral", ELECTRICITY_MAPS: "FI"},  # nearest
    "asia-northeast1": {CARBON_AWARE_SDK: "japaneast", ELECTRICITY_MAPS: "JP-TK"},  # Tokyo
    "asia-southeast1": {CARBON_AWARE_SDK: "southeastasia", ELECTRICITY_MAPS: "SG"},  # Singapore
    "asia-south1": {CARBON_AWARE_SDK: "westindia", ELECTRICITY_MAPS: "IN-WE"},  # Mumbai
    "australia-southeast1": {CARBON_AWARE_SDK: "australiaeast", ELECTRICITY_MAPS: "AU-NSW"},
}
"""Vertex region -> the Carbon Aware SDK's (Azure) location and the Electricity Maps zone."""

_VERTEX_SHAPE = re.compile(r"^[a-z]+(?:-[a-z]+)+\d+$")


class LocationError(ForecastError):
    """A Vertex region with no known provider location (the message says how to add one)."""


def is_vertex_region(name: str) -> bool:
    """Whether ``name`` is shaped like a Google Cloud region (``europe-west4``)."""
    return bool(_VERTEX_SHAPE.match(name.strip()))


def _overrides() -> dict[str, str]:
    text = os.environ.get(LOCATION_MAP_ENV, "")
    pairs = [item.split("=", 1) for item in text.split(",") if "=" in item]
    return {region.strip(): location.strip() for region, location in pairs}


def provider_location(name: str, provider: str) -> str:
    """The provider's name for ``name``: a Vertex region mapped, any other name as it is.

    Args:
        name: A Vertex region, or a location already named as the provider names it.
        provider: :data:`CARBON_AWARE_SDK` or :data:`ELECTRICITY_MAPS`.

    Raises:
        LocationError: ``name`` is shaped like a Vertex region the table does not hold.
    """
    name = name.strip()
    override = _overrides().get(name)
    if override:
        return override
    mapped: Optional[str] = VERTEX_REGIONS.get(name, {}).get(provider)
    if mapped:
        return mapped
    if is_vertex_region(name):
        known = ", ".join(sorted(VERTEX_REGIONS))
        raise LocationError(
            f"no {provider} location is known for the Vertex region {name!r} (known: {known}); "
            f"name one with ${LOCATION_MAP_ENV}={name}=<location>"
        )
    return name
