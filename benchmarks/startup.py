"""Benchmark: the fixed cost of every step of the demo, warm (the default) and cold.

Runs ``greenkfp run`` on the embedded data twice in fresh output folders, back to back in
one invocation: first ``--cold`` (kfp.local's fresh interpreter per step), then warm (each
step forks from one process that has imported the runtime stack: ``runners/warm.py``).

Per step:
    * ``wall_s``: the local runner's time from launching the step to its end;
    * ``work_s``: the step's metered work in the warm run (codecarbon's ``duration_s`` of
      the block the component meters). Warm, that block holds the work alone; cold, it
      also holds the imports the logic makes lazily, so the warm figure is the work;
    * ``fixed_s = wall_s - work_s`` for each run: process start, imports, starting the
      meter, writing outputs, and waiting for the fork server.

The last line printed is one JSON object::

    {"demo_seconds": 67.0, "cold_demo_seconds": 190.0, "max_fixed_cost_s": 4.1,
     "max_fixed_cost_step": "import-csv", "cold_max_fixed_cost_s": 16.0,
     "energy_kwh": ..., "cold_energy_kwh": ..., "steps": [...]}

``demo_seconds`` and ``max_fixed_cost_s`` are the warm run's, what ``make demo`` does.
Both runs share the machine and the page cache: the cold run goes first, so that the warm
one does not profit from files the cold one read. Compare ratios within one invocation.

Usage::

    .venv/bin/python benchmarks/startup.py
    .venv/bin/python benchmarks/startup.py --runs-dir /tmp/startup
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_demo(output_dir: Path, cold: bool) -> dict:
    """Runs the default pipeline through the CLI; returns its run_summary.json."""
    command = [sys.executable, "-m", "greenkfp", "run", "--output-dir", str(output_dir)]
    if cold:
        command.append("--cold")
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"greenkfp run {'--cold ' if cold else ''}failed:\n{done.stdout}\n{done.stderr}")
    summary = json.loads((output_dir / "run_summary.json").read_text())
    summary["process_seconds"] = round(seconds, 1)
    return summary


def step_table(summary: dict, work_s: dict[str, float]) -> list[dict]:
    """Per step: wall, work and the fixed cost between them, in seconds."""
    rows = []
    for step in summary["steps"]:
        wall = float(step["duration_s"])
        work = work_s[step["name"]]
        rows.append(
            {
                "step": step["name"],
                "wall_s": round(wall, 2),
                "work_s": round(work, 2),
                "fixed_s": round(wall - work, 2),
                "energy_kwh": step["energy_kwh"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs-dir", default="", help="keep the two runs here (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="greenkfp-startup-") as tmp:
        root = Path(args.runs_dir or tmp)
        cold = run_demo(root / "cold", cold=True)
        warm = run_demo(root / "warm", cold=False)
    work_s = {step["name"]: float(step["energy"]["duration_s"]) for step in warm["steps"]}
    cold_rows, warm_rows = step_table(cold, work_s), step_table(warm, work_s)
    print(f"{'step':<26}{'cold wall':>10}{'fixed':>8}{'warm wall':>11}{'fixed':>8}{'work':>8}")
    for c, w in zip(cold_rows, warm_rows):
        print(
            f"{w['step']:<26}{c['wall_s']:>10.1f}{c['fixed_s']:>8.1f}"
            f"{w['wall_s']:>11.1f}{w['fixed_s']:>8.1f}{w['work_s']:>8.1f}"
        )
    print(
        f"demo: cold {cold['duration_s']:.0f} s, warm {warm['duration_s']:.0f} s "
        f"({cold['duration_s'] / warm['duration_s']:.2f}x); energy cold "
        f"{cold['energy_kwh_total']:.6f} kWh, warm {warm['energy_kwh_total']:.6f} kWh"
    )
    worst = max(warm_rows, key=lambda r: r["fixed_s"])
    result = {
        "demo_seconds": warm["duration_s"],
        "cold_demo_seconds": cold["duration_s"],
        "max_fixed_cost_s": worst["fixed_s"],
        "max_fixed_cost_step": worst["step"],
        "cold_max_fixed_cost_s": max(r["fixed_s"] for r in cold_rows),
        "energy_kwh": warm["energy_kwh_total"],
        "cold_energy_kwh": cold["energy_kwh_total"],
        "energy_method": warm["steps"][0]["energy"].get("energy_method", ""),
        "steps": [
            {**w, "cold_wall_s": c["wall_s"], "cold_fixed_s": c["fixed_s"]}
            for c, w in zip(cold_rows, warm_rows)
        ],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
