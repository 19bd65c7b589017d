"""Helpers the tests share (importable thanks to pytest's ``pythonpath = tests``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EMBEDDED_DATA = REPO / "pipelines" / "data" / "german_credit.csv"


def run_cli(*args: str, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs the greenkfp CLI in a fresh interpreter, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "greenkfp", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def submit_cli(capsys, *argv: str) -> tuple:
    """Runs greenkfp submit through add_parser/run, as cli.py wires it: (status, out, err)."""
    import argparse

    from greenkfp.pipelines.cli import submit

    parser = argparse.ArgumentParser(prog="greenkfp")
    submit.add_parser(parser.add_subparsers(dest="command", required=True))
    status = submit.run(parser.parse_args(["submit", *argv]))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def load_summary(output_dir: Path) -> dict:
    return json.loads((output_dir / "run_summary.json").read_text())


def energy_figures(
    kwh: float, intensity: float = 400.0, duration: float = 2.0, cpu_share: float = 0.7
) -> dict[str, float]:
    """A step's energy figures under the keys every component records (no GPU)."""
    return {
        "energy_kwh": kwh,
        "cpu_energy_kwh": kwh * cpu_share,
        "gpu_energy_kwh": 0.0,
        "ram_energy_kwh": kwh * (1.0 - cpu_share),
        "emissions_kg_co2eq": kwh * intensity / 1000.0,
        "carbon_intensity_g_per_kwh": intensity,
        "duration_s": duration,
    }
