"""Figures: each step's RAM share of its energy, codecarbon's node figure against the step's.

Reads a finished local run (``make demo`` writes ``runs/demo``). For every step it puts
side by side:

* before: codecarbon's row in the step's ``codecarbon/emissions.csv``, the whole node
  (machine mode, its per-DIMM RAM heuristic for all the node's memory): what every step
  recorded as its energy before issue 19;
* after: the step's recorded figures, its own process tree's share of that node figure
  (``components/_shared/energy_attribution.py``), with the bound of its method.

The last line printed is one JSON object::

    {"steps": {"train-model": {"before_kwh": ..., "before_ram_share": ...,
     "after_kwh": ..., "after_ram_share": ..., "low_kwh": ..., "high_kwh": ...}, ...},
     "total_before_kwh": ..., "total_after_kwh": ..., "total_low_kwh": ..., ...}

Usage::

    make demo && .venv/bin/python benchmarks/energy_attribution.py runs/demo
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from typing import Any, Optional


def _node_row(step: dict[str, Any]) -> Optional[dict[str, float]]:
    """codecarbon's last row for the step (one metered block a step), from any output's folder."""
    for output in step.get("outputs", {}).values():
        uri = output.get("uri", "") if isinstance(output, dict) else ""
        path = os.path.join(os.path.dirname(uri), "codecarbon", "emissions.csv")
        if uri and os.path.isfile(path):
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            if rows:
                row = rows[-1]
                keys = ("energy_consumed", "cpu_energy", "ram_energy", "gpu_energy")
                return {k: float(row[k]) for k in keys}
    return None


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole > 0 else 0.0


def compare(run_dir: str) -> dict[str, Any]:
    """Before (node) and after (process) energy and RAM share of every step of a run."""
    with open(os.path.join(run_dir, "run_summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    steps: dict[str, dict[str, float]] = {}
    for step in summary["steps"]:
        node, energy = _node_row(step), step.get("energy", {})
        if node is None or not energy:
            continue
        steps[step["name"]] = {
            "before_kwh": node["energy_consumed"],
            "before_ram_share": _share(node["ram_energy"], node["energy_consumed"]),
            "after_kwh": energy["energy_kwh"],
            "after_ram_share": _share(energy["ram_energy_kwh"], energy["energy_kwh"]),
            "low_kwh": energy["low"],
            "high_kwh": energy["high"],
            "cpu_share": round(energy["cpu_share"], 4),
            "memory_share": round(energy["memory_share"], 4),
        }
    return {
        "method": ", ".join(sorted({s["energy"].get("method", "") for s in summary["steps"]})),
        "steps": steps,
        "total_before_kwh": sum(s["before_kwh"] for s in steps.values()),
        "total_after_kwh": summary["energy_kwh_total"],
        "total_low_kwh": summary["energy_kwh_total_low"],
        "total_high_kwh": summary["energy_kwh_total_high"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", default="runs/demo")
    figures = compare(parser.parse_args().run_dir)
    print(f"method: {figures['method']}")
    print(f"{'step':<24}{'before kWh':>12}{'RAM':>7}{'after kWh':>12}{'RAM':>7}  bound (kWh)")
    for name, s in figures["steps"].items():
        print(
            f"{name:<24}{s['before_kwh']:>12.3g}{s['before_ram_share']:>7.0%}"
            f"{s['after_kwh']:>12.3g}{s['after_ram_share']:>7.0%}"
            f"  {s['low_kwh']:.3g} to {s['high_kwh']:.3g}"
        )
    print(
        f"{'total':<24}{figures['total_before_kwh']:>12.3g}{'':>7}"
        f"{figures['total_after_kwh']:>12.3g}{'':>7}"
        f"  {figures['total_low_kwh']:.3g} to {figures['total_high_kwh']:.3g}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
