"""Benchmark: the energy a skip run of continuous training spends against a full run.

Runs ``greenkfp run --pipeline continuous_training_pipeline`` on the embedded data twice,
back to back in one invocation, on one fresh registry: first the full run (nothing is
live, so it trains, compresses, evaluates fairness, gates, deploys and reports), then a
run on the same data (no drift, no quality drop: every retraining step skips).

Figures:
    * ``skip_energy_ratio``: the skip run's ``energy_kwh_total`` over the full run's (the
      sum of every step's metered work, as codecarbon measured it). Target: <= 0.2.
    * ``skip_wall_ratio``: the same for wall time, process start and imports included,
      which the metering leaves out; at a constant power draw it bounds the energy
      ratio from above, so it is the high end of the figure.
    * ``energy_avoided_kwh``: what ``run_summary.json`` of the skip run says (the live
      version's recorded pipeline energy less what the skip run spent).

The last line printed is one JSON object::

    {"skip_energy_ratio": 0.05, "skip_wall_ratio": 0.3, "full_energy_kwh": ...,
     "skip_energy_kwh": ..., "energy_avoided_kwh": ..., "full_seconds": ...,
     "skip_seconds": ..., "energy_method": "cpu_load_estimate", "steps": [...]}

Usage::

    .venv/bin/python benchmarks/continuous_training.py
    .venv/bin/python benchmarks/continuous_training.py --runs-dir /tmp/ct --epochs 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 0.2


def run_pipeline(output_dir: Path, registry: Path, extra: list[str]) -> dict:
    """Runs the continuous training pipeline through the CLI; returns its run_summary.json."""
    command = [sys.executable, "-m", "greenkfp", "run", "--pipeline"]
    command += ["continuous_training_pipeline", "--output-dir", str(output_dir)]
    command += ["--registry", str(registry), *extra]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"greenkfp run failed:\n{done.stdout}\n{done.stderr}")
    summary = json.loads((output_dir / "run_summary.json").read_text())
    summary["process_seconds"] = round(time.monotonic() - started, 1)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs-dir", default="", help="keep the runs here (default: temp)")
    parser.add_argument("--epochs", default="", help="training epochs (default: the pipeline's)")
    parser.add_argument("--compression", default="", help="e.g. dynamic (default: auto)")
    args = parser.parse_args()
    extra = ["--epochs", args.epochs] if args.epochs else []
    extra += ["--compression", args.compression] if args.compression else []
    with tempfile.TemporaryDirectory(prefix="greenkfp-ct-") as tmp:
        root = Path(args.runs_dir or tmp)
        registry = root / "registry"
        print("full run (empty registry: trains the first model) ...", flush=True)
        full = run_pipeline(root / "full", registry, extra)
        print(
            f"  retrained={full['retrained']}, {full['duration_s']:.0f} s, "
            f"{full['energy_kwh_total']:.6f} kWh",
            flush=True,
        )
        print("skip run (the same data against the version just deployed) ...", flush=True)
        skip = run_pipeline(root / "skip", registry, extra)
        print(
            f"  retrained={skip['retrained']}, {skip['duration_s']:.0f} s, "
            f"{skip['energy_kwh_total']:.6f} kWh",
            flush=True,
        )
    if full["retrained"] is not True or skip["retrained"] is not False:
        sys.exit("expected a full run that retrains, then a skip run")
    skip_steps = {s["name"]: s for s in skip["steps"]}
    print(f"{'step':<24}{'full kWh':>12}{'full s':>8}{'skip kWh':>12}{'skip s':>8}  skip status")
    steps = []
    for step in full["steps"]:
        other = skip_steps[step["name"]]
        print(
            f"{step['name']:<24}{step['energy_kwh']:>12.3g}{step['duration_s']:>8.1f}"
            f"{other['energy_kwh']:>12.3g}{other['duration_s']:>8.1f}  {other['status']}"
        )
        steps.append(
            {
                "step": step["name"],
                "full_energy_kwh": step["energy_kwh"],
                "full_s": step["duration_s"],
                "skip_energy_kwh": other["energy_kwh"],
                "skip_s": other["duration_s"],
                "skip_status": other["status"],
            }
        )
    ratio = skip["energy_kwh_total"] / full["energy_kwh_total"]
    wall_ratio = skip["duration_s"] / full["duration_s"]
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(
        f"skip/full energy {ratio:.3f} ({verdict} the target <= {TARGET_RATIO}); "
        f"wall time {wall_ratio:.3f}; energy avoided {skip['energy_avoided_kwh']:.6f} kWh"
    )
    result = {
        "skip_energy_ratio": round(ratio, 4),
        "skip_wall_ratio": round(wall_ratio, 4),
        "full_energy_kwh": full["energy_kwh_total"],
        "skip_energy_kwh": skip["energy_kwh_total"],
        "energy_avoided_kwh": skip["energy_avoided_kwh"],
        "full_seconds": full["duration_s"],
        "skip_seconds": skip["duration_s"],
        "skip_reasons": skip["retrain_reasons"],
        "energy_method": full["steps"][0]["energy"].get("energy_method", ""),
        "steps": steps,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
