"""Metering a component's work, and recording the figures the same way in every component.

The numbers (``energy_kwh``, its bound ``energy_kwh_low``/``energy_kwh_high``,
``node_energy_kwh``, ``emissions_kg_co2eq``, ``duration_s``, ...) go to the step's
``Metrics``; the strings (``energy_method``, ``country_iso_code``, ``region``, hardware,
``kepler_status``) go to the metadata of another output of the step. Key names are those of
:class:`greenkfp.components._shared.energy.EnergyReading`. When ``GREENKFP_PROMETHEUS_URL``
is set, :func:`metered_step` also records Kepler's figure for the step's pod
(:mod:`kepler`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from typing import Any, Iterator, Mapping

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared import kepler
from greenkfp.components._shared.energy import (
    LOCK_FILE_NAME,
    EnergyReading,
    codecarbon_dir,
    energy_meter,
)
from greenkfp.components._shared.grid_intensity import price_reading


@contextlib.contextmanager
def metered_step(
    output_dir: str, country_iso_code: str = "", region: str = "", prometheus_url: str = ""
) -> Iterator[EnergyReading]:
    """Meters a block of a component's work; codecarbon's files end up in ``output_dir``.

    codecarbon works in a local temporary folder (its file lock and CSV appends need a
    real file system; a task's output folder may be a GCS FUSE mount), and its files are
    copied to ``output_dir/codecarbon/`` when the block ends, also when it raises. Then,
    when a Prometheus URL is configured (``GREENKFP_PROMETHEUS_URL``), Kepler's figure for
    the step's pod over the same window is added (``kepler_energy_kwh``), or why there is
    none (``kepler_status``); the step never fails for it.

    Args:
        output_dir: The component's own output folder (the parent of an output's path).
        country_iso_code: ISO alpha-3 code of the grid; empty falls back to
            ``GREENKFP_COUNTRY``, then the documented default.
        region: Region within the country, optional.
        prometheus_url: Prometheus's base URL for Kepler's cross-check; empty falls back
            to ``GREENKFP_PROMETHEUS_URL`` (unset: no cross-check).

    Yields:
        The reading, filled when the block exits, and priced at the grid intensity of the
        step's own window when a provider is configured (``grid_intensity.price_reading``).
    """
    with tempfile.TemporaryDirectory(prefix="greenkfp-energy-") as tmp:
        started = time.time()
        try:
            with energy_meter(
                tmp, country_iso_code=country_iso_code or None, region=region or None
            ) as reading:
                yield reading
            price_reading(reading)  # the grid's intensity of the step's own window, if configured
        finally:
            _copy_tree(codecarbon_dir(tmp), codecarbon_dir(output_dir))
        check = kepler.cross_check(started, time.time(), prometheus_url or None)
        reading.kepler_energy_kwh, reading.kepler_status = check.energy_kwh, check.status


def _copy_tree(source: str, target: str) -> None:
    if not os.path.isdir(source):
        return
    # The lock only guards the local folder; it means nothing in the output.
    if uri_io.is_local(target):
        ignore = shutil.ignore_patterns(LOCK_FILE_NAME)
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=ignore)
        return
    for name in set(os.listdir(source)) - {LOCK_FILE_NAME}:
        with open(os.path.join(source, name), "rb") as src:
            with uri_io.open_uri(f"{target}/{name}", "wb") as dst:
                dst.write(src.read())


def record_energy(reading: EnergyReading, metrics: Any, artifact: Any) -> None:
    """Logs the reading's numbers to ``metrics`` and its strings to ``artifact.metadata``.

    Args:
        reading: A filled reading.
        metrics: The step's ``Metrics`` output.
        artifact: Another output of the step (its main artifact).
    """
    for name, value in reading.metrics().items():
        metrics.log_metric(name, value)
    artifact.metadata.update(reading.metadata())


def step_dir(metrics: Any) -> str:
    """The step's own output folder: where codecarbon's files of a metered step go."""
    return os.path.dirname(metrics.path)


def publish(
    metrics: Any,
    reading: EnergyReading,
    artifact: Any,
    figures: Mapping[str, float] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Publishes a step's results the same way in every component wrapper.

    Numbers go to ``metrics`` (the KFP UI shows each as a row), the energy reading to
    ``metrics`` and ``artifact.metadata``, and ``metadata`` to the step's main artifact.

    Args:
        metrics: The step's ``Metrics`` output.
        reading: The filled energy reading of the step's work.
        artifact: The step's main output artifact.
        figures: Numeric figures of the outcome.
        metadata: Facts to record on ``artifact``.
    """
    for name, value in (figures or {}).items():
        metrics.log_metric(name, float(value))
    record_energy(reading, metrics, artifact)
    if metadata:
        artifact.metadata.update(metadata)
