"""Measurements of a model as it serves: file sizes, batch-1 latency, inference energy."""

from __future__ import annotations

import gzip
import tempfile
import time
from typing import Callable, Sequence

import numpy as np

from greenkfp.components._shared.energy import energy_meter


def sizes(contents: Sequence[bytes]) -> tuple[int, int]:
    """Returns the raw and gzip-compressed (level 9) byte counts of model files together."""
    raw = sum(len(c) for c in contents)
    zipped = sum(len(gzip.compress(c, compresslevel=9, mtime=0)) for c in contents)
    return raw, zipped


def latency_ms(
    predict_one: Callable[[int], object], n_rows: int, runs: int, warmup: int
) -> dict[str, float]:
    """Times batch-1 predictions, cycling over rows.

    Args:
        predict_one: Scores the row at the given index.
        n_rows: Rows available.
        runs: Timed predictions.
        warmup: Untimed predictions first (allocation, caches).

    Returns:
        ``{"p50": ..., "p95": ..., "mean": ...}`` in milliseconds.
    """
    for i in range(warmup):
        predict_one(i % n_rows)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        predict_one(i % n_rows)
        times[i] = time.perf_counter() - start
    times *= 1000.0
    return {
        "p50": float(np.percentile(times, 50)),
        "p95": float(np.percentile(times, 95)),
        "mean": float(times.mean()),
    }


def inference_energy_kwh_per_1k(
    predict_one: Callable[[int], object],
    n_rows: int,
    predictions: int,
    min_seconds: float = 1.0,
    country_iso_code: str = "",
    region: str = "",
) -> float:
    """Meters batch-1 predictions with codecarbon; returns kWh per 1,000 predictions.

    Predicts at least ``predictions`` times and for at least ``min_seconds``, so that the
    work, not the meter's start and stop, dominates what is measured.
    """
    done = 0
    with tempfile.TemporaryDirectory(prefix="greenkfp-inference-energy-") as tmp:
        with energy_meter(
            tmp, country_iso_code=country_iso_code or None, region=region or None
        ) as reading:
            start = time.perf_counter()
            while done < predictions or time.perf_counter() - start < min_seconds:
                for _ in range(100):
                    predict_one(done % n_rows)
                    done += 1
    return reading.energy_kwh * 1000.0 / done
