"""Measurements of a model as it serves: sizes, latency and inference energy (two batches)."""

from __future__ import annotations

import gzip
import tempfile
import time
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from greenkfp.components._shared.energy import energy_meter


def sizes(contents: Sequence[bytes]) -> tuple[int, int]:
    """Returns the raw and gzip-compressed (level 9) byte counts of model files together."""
    raw = sum(len(c) for c in contents)
    zipped = sum(len(gzip.compress(c, compresslevel=9, mtime=0)) for c in contents)
    return raw, zipped


def latency_ms(
    predict_one: Callable[[int], object], n_rows: int, runs: int, warmup: int
) -> dict[str, float]:
    """Times predictions, cycling over rows (or batches).

    Args:
        predict_one: Scores the row (or batch) at the given index.
        n_rows: Rows (or batches) available.
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
    rows_per_call: int = 1,
) -> float:
    """Meters predictions with codecarbon; returns kWh per 1,000 predicted rows.

    Predicts at least ``predictions`` rows and for at least ``min_seconds``, so that the
    work, not the meter's start and stop, dominates what is measured. Each call of
    ``predict_one`` scores ``rows_per_call`` rows (a serving batch).
    """
    done = 0
    with tempfile.TemporaryDirectory(prefix="greenkfp-inference-energy-") as tmp:
        with energy_meter(
            tmp, country_iso_code=country_iso_code or None, region=region or None
        ) as reading:
            start = time.perf_counter()
            while done * rows_per_call < predictions or time.perf_counter() - start < min_seconds:
                for _ in range(100):
                    predict_one(done % n_rows)
                    done += 1
    return reading.energy_kwh * 1000.0 / (done * rows_per_call)


def batches(arrays: dict[str, np.ndarray], size: int) -> list[dict[str, np.ndarray]]:
    """Cuts named ``(n, ...)`` arrays into batches of ``size`` rows, wrapping around.

    Every row appears at least once; with fewer than ``size`` rows, rows repeat to fill one
    batch.
    """
    n = len(next(iter(arrays.values())))
    count = max(1, -(-n // size)) if size < n else 1
    out = []
    for i in range(count):
        index = np.arange(i * size, (i + 1) * size) % n
        out.append({name: values[index] for name, values in arrays.items()})
    return out


def serving(
    model: Any,
    eval_df: pd.DataFrame,
    *,
    batch_size: int,
    runs: int,
    warmup: int,
    predictions: int,
    min_seconds: float,
    country_iso_code: str = "",
    region: str = "",
) -> dict[str, float]:
    """Latency and inference energy of a model at batch 1 and at a serving batch.

    Args:
        model: A ``tflite_runtime.CompressedModel`` (the interpreter applies TFLite's default
            XNNPACK delegate, as serving with the TFLite interpreter does).
        eval_df: Raw rows to predict, cycled over.
        batch_size: The serving batch.
        runs: Timed calls per batch size.
        warmup: Untimed calls first.
        predictions: Least rows metered for energy, per batch size.
        min_seconds: Least seconds metered for energy, per batch size.
        country_iso_code: Grid country for the meter.
        region: Grid region.

    Returns:
        ``latency_p50_ms``, ``latency_p95_ms`` (batch 1), ``batch_latency_p50_ms`` (one
        serving batch), ``energy_kwh_per_1k`` and ``batch_energy_kwh_per_1k`` (per 1,000
        rows predicted at batch 1 and at the serving batch).
    """
    arrays = model.to_inputs(eval_df)
    figures: dict[str, float] = {}
    for prefix, size in (("", 1), ("batch_", batch_size)):
        calls = batches(arrays, size)

        def predict(i: int, calls: list = calls) -> None:
            model.predict_inputs(calls[i])

        latency = latency_ms(predict, len(calls), runs, warmup)
        energy = inference_energy_kwh_per_1k(
            predict,
            len(calls),
            predictions,
            min_seconds=min_seconds,
            country_iso_code=country_iso_code,
            region=region,
            rows_per_call=size,
        )
        figures[f"{prefix}latency_p50_ms"] = latency["p50"]
        if size == 1:
            figures["latency_p95_ms"] = latency["p95"]
        figures[f"{prefix}energy_kwh_per_1k"] = energy
    return figures
