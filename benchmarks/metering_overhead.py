"""Benchmark: wall-time overhead of the codecarbon energy meter around model training.

Trains the default tabular model on the bundled German credit data (seeded, stratified
80/20 split; fixed seed; early stopping off, so every run does exactly ``--epochs``
epochs) with and without :func:`greenkfp.components._shared.energy.energy_meter` around
the training call, and compares the wall times.

Method:
    * One untimed warm-up run of each variant first. The first training in a process
      pays TensorFlow start-up and tracing costs, and the first ``energy_meter`` pays
      codecarbon's hardware detection (about 2.8 s); neither is part of the steady-state
      overhead measured here.
    * Then ``--runs`` timed runs of each variant, alternating, with the order flipped
      every pair (with/without, without/with, ...) so that slow drift of the machine
      (thermal, other load) cancels out.
    * Timed with ``time.perf_counter`` around the training call only: data loading,
      splitting and temporary-folder creation are outside the timer. In the metered
      variant the timer encloses the whole ``with energy_meter(...)`` block, so the
      tracker's start and stop count as overhead. Every run gets a fresh
      ``tempfile.TemporaryDirectory`` as the meter's ``output_dir``.
    * Target: median(with) / median(without) <= 1.02.

The last line printed is one JSON object::

    {"overhead_ratio": 1.0042, "runs": 5, "median_with_s": 3.51, "median_without_s": 3.49,
     "energy_method": "cpu_load_estimate"}

Usage::

    .venv/bin/python benchmarks/metering_overhead.py --runs 5
    .venv/bin/python benchmarks/metering_overhead.py --runs 3 --epochs 5
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

# Before TensorFlow is imported (it is, lazily, by the greenkfp training modules).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_USE_LEGACY_KERAS"] = "1"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT / "pipelines" / "data" / "german_credit.csv"
LABEL_COLUMN = "risk"
POSITIVE_LABEL = "1"
EVAL_FRACTION = 0.2
TARGET_RATIO = 1.02

WITH = "with_meter"
WITHOUT = "without_meter"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Measure the wall-time overhead of energy_meter (codecarbon) around model "
            "training: alternating runs with and without the meter, after one untimed "
            "warm-up of each. The last line printed is a JSON summary."
        )
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="timed runs of each variant (default: 5)"
    )
    parser.add_argument(
        "--epochs", type=int, default=20, help="epochs per training run (default: 20)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    parser.add_argument(
        "--seed", type=int, default=42, help="split and training seed (default: 42)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"CSV with a {LABEL_COLUMN!r} label column (default: the bundled German credit)",
    )
    args = parser.parse_args(argv)
    for name in ("runs", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    return args


def cpu_model() -> str:
    """Returns the CPU model name, from /proc/cpuinfo where readable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _quiet(_epoch: int, _logs: dict) -> None:
    """Epoch hook that prints nothing."""


class Runner:
    """Loads and splits the data once, then trains with or without the meter on demand."""

    def __init__(self, data: Path, epochs: int, batch_size: int, seed: int) -> None:
        import pandas as pd

        from greenkfp.components._shared.energy import energy_meter
        from greenkfp.components.data_validation.ingest import split_train_eval
        from greenkfp.components.training import trainer

        logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing warnings
        self._energy_meter = energy_meter
        self._trainer = trainer
        df = pd.read_csv(data)
        self.train_df, self.eval_df = split_train_eval(df, EVAL_FRACTION, seed, LABEL_COLUMN)
        self.hparams: dict[str, Any] = {
            "epochs": epochs,
            "batch_size": batch_size,
            "early_stopping_patience": 0,  # off: every run does all epochs
            "seed": seed,
        }

    def _train(self) -> Any:
        return self._trainer.train(
            self.train_df,
            self.eval_df,
            LABEL_COLUMN,
            POSITIVE_LABEL,
            self.hparams,
            on_epoch_end=_quiet,
        )

    def run(self, metered: bool) -> tuple[float, Any, int]:
        """Trains once; returns (wall seconds, EnergyReading or None, epochs run)."""
        with tempfile.TemporaryDirectory(prefix="greenkfp-bench-") as out:
            reading = None
            if metered:
                start = time.perf_counter()
                with self._energy_meter(out) as reading:
                    result = self._train()
                seconds = time.perf_counter() - start
            else:
                start = time.perf_counter()
                result = self._train()
                seconds = time.perf_counter() - start
        return seconds, reading, int(result.epochs_run)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wall_start = time.perf_counter()
    print(
        f"metering overhead benchmark: {args.runs} timed run(s) per variant, "
        f"{args.epochs} epochs, batch size {args.batch_size}, seed {args.seed}",
        flush=True,
    )
    print(
        "warm-up: one untimed run of each variant first (the first training pays "
        "TensorFlow start-up; the first energy_meter pays ~2.8 s of codecarbon hardware "
        "detection)",
        flush=True,
    )
    runner = Runner(args.data, args.epochs, args.batch_size, args.seed)
    print(
        f"data: {args.data.name}, {len(runner.train_df)} train / {len(runner.eval_df)} "
        "eval rows (stratified on the label)",
        flush=True,
    )

    for metered in (False, True):
        seconds, reading, epochs_run = runner.run(metered)
        label = WITH if metered else WITHOUT
        print(f"  warm-up {label:<13} {seconds:7.3f} s  (untimed, {epochs_run} epochs)")

    times: dict[str, list[float]] = {WITH: [], WITHOUT: []}
    methods: list[str] = []
    energies: list[float] = []
    pair_ratios: list[float] = []
    for i in range(args.runs):
        order = (True, False) if i % 2 == 0 else (False, True)
        pair: dict[str, float] = {}
        for metered in order:
            seconds, reading, epochs_run = runner.run(metered)
            label = WITH if metered else WITHOUT
            times[label].append(seconds)
            pair[label] = seconds
            extra = ""
            if reading is not None:
                methods.append(reading.energy_method)
                energies.append(reading.energy_kwh)
                extra = f"  {reading.energy_kwh * 1e3:.4f} Wh, {reading.energy_method}"
            print(
                f"  run {i + 1}/{args.runs} {label:<13} {seconds:7.3f} s  "
                f"({epochs_run} epochs){extra}",
                flush=True,
            )
        pair_ratios.append(pair[WITH] / pair[WITHOUT])

    med_with = statistics.median(times[WITH])
    med_without = statistics.median(times[WITHOUT])
    ratio = med_with / med_without
    energy_method = "/".join(sorted(set(methods))) or "unknown"

    print()
    print(f"{'variant':<14} {'median s':>9} {'min s':>9} {'max s':>9}")
    for label in (WITH, WITHOUT):
        t = times[label]
        print(f"{label:<14} {statistics.median(t):9.3f} {min(t):9.3f} {max(t):9.3f}")
    verdict = "OK" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(f"overhead ratio (median with / median without): {ratio:.4f}  [{verdict}]")
    print(
        f"median of per-pair ratios: {statistics.median(pair_ratios):.4f}; "
        f"ratio of minimums: {min(times[WITH]) / min(times[WITHOUT]):.4f} "
        "(less sensitive to other load on the machine)"
    )
    print(f"target: overhead ratio <= {TARGET_RATIO}")
    print(
        f"energy_method: {energy_method}; median energy per metered run: "
        f"{statistics.median(energies) * 1e3:.4f} Wh"
    )
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPU(s), {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )
    print(f"total benchmark time: {time.perf_counter() - wall_start:.1f} s")
    summary = {
        "overhead_ratio": round(ratio, 4),
        "runs": args.runs,
        "median_with_s": round(med_with, 4),
        "median_without_s": round(med_without, 4),
        "energy_method": energy_method,
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=FutureWarning)
    sys.exit(main())
