"""Ctrl-C and SIGTERM during a real ``greenkfp run`` (issue 23): one line, a summary, no leftovers.

Ctrl-C in a terminal sends SIGINT to the foreground process group (``greenkfp`` and its
warm server); a scheduler sends SIGTERM to ``greenkfp`` alone. Both runs stop early, with
few epochs, so they take seconds.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = pytest.mark.slow

MODEL = "credit-risk"  # the registry fixture's model (conftest.py)


def _run_until_step(out: Path, step: int, *options: str) -> subprocess.Popen:
    """Starts ``greenkfp run`` in a session of its own; returns once step ``step`` runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "greenkfp", "run", "--output-dir", str(out), *options],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    for line in process.stdout:
        if line.startswith(f"[{step}/") and line.rstrip().endswith(" ..."):
            time.sleep(1.0)  # well inside the step
            return process
    raise AssertionError(f"step {step} never started: {process.communicate()}")


def _left_in_session(session: int) -> list[str]:
    """Processes still alive in the run's session: its warm server, steps and their children.

    A step leads a process group of its own, but stays in the session of ``greenkfp``.
    """
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            left.append(stat.parent.name)
    return left


def _assert_interrupted(process, out: Path, status: int, signal_name: str, step: str) -> dict:
    _, err = process.communicate(timeout=120)
    assert process.returncode == status, err
    assert err.strip().splitlines() == [
        f"greenkfp run: interrupted by {signal_name} during step {step}; nothing more ran. "
        f"Summary: {out / 'run_summary.json'}"
    ]
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["interrupted_by"] == signal_name
    assert summary["steps"][-1]["status"] == "interrupted"
    assert summary["failed_step"] == summary["steps"][-1]["name"]
    assert f"interrupted by {signal_name}" in (out / "run.log").read_text()
    deadline = time.monotonic() + 5
    while _left_in_session(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # the warm server may still be closing
    assert _left_in_session(process.pid) == []
    return summary


def test_ctrl_c_during_the_first_step(tmp_path):
    out = tmp_path / "run"
    process = _run_until_step(out, 1, "--pipeline", "training_pipeline", "--epochs", "1")
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    summary = _assert_interrupted(process, out, 130, "SIGINT", "Import CSV data (import-csv)")
    assert [s["name"] for s in summary["steps"]] == ["import-csv"]


def test_sigterm_during_training_deploys_nothing(tmp_path, registry):
    before = {p: p.read_bytes() for p in registry.rglob("*") if p.is_file()}
    out = tmp_path / "run"
    options = ("--epochs", "2", "--registry", str(registry), "--model-name", MODEL)
    process = _run_until_step(out, 6, *options)
    os.kill(process.pid, signal.SIGTERM)  # a scheduler's stop: greenkfp alone
    summary = _assert_interrupted(
        process, out, 143, "SIGTERM", "Train model (energy-metered) (train-model)"
    )
    assert summary["failed_step"] == "train-model" and summary["deployed"] is None
    assert {p: p.read_bytes() for p in registry.rglob("*") if p.is_file()} == before
