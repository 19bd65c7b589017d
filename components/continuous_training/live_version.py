"""The live version of a model in the registry, and what it keeps to judge new data."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.registry_reading import (
    DRIFT_REFERENCE_FILE,
    PIPELINE_ENERGY_FILE,
    SCHEMA_FILE,
    TRAIN_STATISTICS_FILE,
    RegistryReader,
    validate_model_name,
)

DRIFT_FILES = (TRAIN_STATISTICS_FILE, SCHEMA_FILE, DRIFT_REFERENCE_FILE)
"""What a version must keep for drift to be judged against it."""


@dataclass
class LiveVersion:
    """The live version and what it recorded.

    Attributes:
        version: Its number.
        uri: Its folder.
        metrics: Its ``metrics.json`` (the candidate figures the gate judged, per source).
        pipeline_energy_kwh: The energy its pipeline spent, or None when not recorded.
        energy_by_step: The same per step.
        missing: The files of :data:`DRIFT_FILES` it does not keep.
    """

    version: int
    uri: str
    reader: RegistryReader
    model_name: str
    metrics: dict[str, Any] = field(default_factory=dict)
    pipeline_energy_kwh: Optional[float] = None
    energy_by_step: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def path(self, name: str) -> str:
        """The URI of one of its files."""
        return uri_io.join(self.uri, name)

    @contextlib.contextmanager
    def local_folder(self) -> Iterator[str]:
        """The version's files in a local folder (the folder itself when local)."""
        with self.reader.local_copy(self.uri) as folder:
            yield folder

    def recorded_auc(self) -> Optional[float]:
        """The AUC the gate judged the version by (``candidate.auc``), if recorded."""
        value = (self.metrics.get("candidate") or {}).get("auc")
        return float(value) if isinstance(value, (int, float)) else None


def read_live_version(registry_uri: str, model_name: str) -> Optional[LiveVersion]:
    """Reads the live version of a model; None when nothing is live.

    Raises:
        InputError: An invalid model name, an unreadable LIVE, or a malformed
            ``metrics.json`` or ``pipeline_energy.json`` (the message names the file).
    """
    reader = RegistryReader(registry_uri)
    validate_model_name(model_name)
    version = reader.live_version(model_name)
    if version is None:
        return None
    live = LiveVersion(version, reader.version_uri(model_name, version), reader, model_name)
    live.metrics = reader.read_metrics(model_name, version)
    live.missing = [n for n in DRIFT_FILES if not reader.has_file(model_name, version, n)]
    if reader.has_file(model_name, version, PIPELINE_ENERGY_FILE):
        energy = reader.read_json(model_name, version, PIPELINE_ENERGY_FILE)
        total = energy.get("total_kwh") if isinstance(energy, dict) else None
        if not isinstance(total, (int, float)):
            raise InputError(f"{live.path(PIPELINE_ENERGY_FILE)} has no number 'total_kwh'")
        live.pipeline_energy_kwh = float(total)
        live.energy_by_step = {
            str(k): float(v)
            for k, v in (energy.get("steps") or {}).items()
            if isinstance(v, (int, float))
        }
    return live
