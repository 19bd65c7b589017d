"""Benchmark: the whole default pipeline on 10k, 100k and 1M rows; per step wall time and peak RSS.

The data is the embedded German Credit data set (1,000 rows) resampled with replacement
to each size, seeded, with multiplicative Gaussian noise (5 %) on its numeric columns
``credit_amount``, ``duration`` and ``age`` (rounded, at least 1), so that rows are not
exact copies; labels and categories are resampled as they are. It is *synthetic*: figures
about time and memory, not about model quality.

Each size runs ``greenkfp run --data <csv> --label-column risk ...`` (the CLI a user runs,
its default pipeline, warm runner) in a subprocess and reads:

* ``wall_s``: the runner's time per step (``run_summary.json``);
* ``peak_rss_mb``: the highest summed RSS of the step's process tree, polled every
  0.2 s with psutil: the task process forked for the step, with its children (Beam
  workers), not the CLI or the fork server it forks from. A forked task's RSS counts the
  pages it shares with the fork server (the imported stack), as a pod importing the same
  stack would; a sum over several processes counts shared pages more than once, so it
  is an upper bound. A step shorter than the poll interval may show less than its peak.

Growth factors compare consecutive sizes: ``time_growth`` is a step's wall time at the
larger size over that at the smaller, beside ``rows_growth``, the rows' ratio; a step
whose time grows at most linearly has ``time_growth <= rows_growth``.

It prints a progress line per size and step start/end while it runs, then a table per
size and the growth factors; the last line is one JSON object::

    {"data": "...", "sizes": [10000], "runs": {"10000": {"status": "succeeded",
     "duration_s": ..., "steps": [{"step": ..., "wall_s": ..., "peak_rss_mb": ...}]}},
     "growth": [...], "max_peak_rss_mb": ..., "max_duration_s": ...}

Usage::

    .venv/bin/python benchmarks/scale.py --sizes 10000
    .venv/bin/python benchmarks/scale.py                      # 10k, 100k and 1M rows
    .venv/bin/python benchmarks/scale.py --sizes 1000000 --runs-dir /data/scale --keep
    .venv/bin/python benchmarks/scale.py --sizes 100000 \
        --beam-pipeline-args=--direct_running_mode=multi_processing,--direct_num_workers=2
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import psutil

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
NOISY_COLUMNS = ("credit_amount", "duration", "age")
NOISE = 0.05
POLL_S = 0.2
#: Disk a run needs per byte of its CSV: the split copies, statistics, models, reports.
DISK_PER_CSV_BYTE = 8
DATA_NOTE = (
    "synthetic: the embedded German Credit data (1,000 rows) resampled with replacement, "
    f"seeded, with {NOISE:.0%} Gaussian noise on {', '.join(NOISY_COLUMNS)}"
)
CLI_ARGUMENTS = ["--label-column", "risk", "--categorical-features", "job"]
_STEP_START = re.compile(r"^\[(\d+)/(\d+)\] (.+) \.\.\.$")
_STEP_END = re.compile(r"^\[(\d+)/(\d+)\] (.+?) (ok|skipped|FAILED.*) \(")


def embedded_data() -> pd.DataFrame:
    from greenkfp.pipelines.cli.run import embedded_data_path

    return pd.read_csv(embedded_data_path())


def resample(base: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` rows drawn with replacement from ``base``, numeric columns with noise."""
    rng = np.random.default_rng(seed)
    frame = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    for column in NOISY_COLUMNS:
        noisy = frame[column] * (1 + rng.normal(0.0, NOISE, rows))
        frame[column] = np.maximum(noisy.round(), 1).astype("int64")
    return frame


def write_data(base: pd.DataFrame, rows: int, seed: int, path: Path) -> None:
    """Writes the resampled data a slice at a time (1M rows never held as one frame)."""
    slice_rows = 100_000
    with open(path, "w") as f:
        for start in range(0, rows, slice_rows):
            part = resample(base, min(slice_rows, rows - start), seed + start)
            part.to_csv(f, index=False, header=start == 0)


def check_disk(folder: Path, rows: int, bytes_per_row: float) -> None:
    """Stops with a message when the folder's disk cannot hold the run."""
    need = rows * bytes_per_row * DISK_PER_CSV_BYTE
    free = shutil.disk_usage(folder).free
    if free < need:
        sys.exit(
            f"scale: {rows:,} rows need about {need / 1e9:.1f} GB free under {folder}, "
            f"{free / 1e9:.1f} GB are; give --runs-dir on a larger disk"
        )


class TreeMemory(threading.Thread):
    """Polls the RSS of the step processes under the CLI process, per step."""

    def __init__(self, cli_pid: int) -> None:
        super().__init__(daemon=True)
        self.cli = psutil.Process(cli_pid)
        self.step: Optional[str] = None
        self.peak: dict[str, int] = {}
        self.done = threading.Event()

    def _step_rss(self) -> int:
        total = 0
        try:
            children = self.cli.children()
        except psutil.Error:
            return 0
        for child in children:
            try:
                is_server = any("_warm_server.py" in part for part in child.cmdline())
                tree = child.children(recursive=True) if is_server else [child]
                if not is_server:
                    tree += child.children(recursive=True)
                total += sum(p.memory_info().rss for p in tree)
            except psutil.Error:
                continue
        return total

    def run(self) -> None:
        while not self.done.wait(POLL_S):
            step = self.step
            if step is not None:
                rss = self._step_rss()
                self.peak[step] = max(self.peak.get(step, 0), rss)


def run_size(
    rows: int, root: Path, seed: int, base: pd.DataFrame, beam_pipeline_args: str = ""
) -> dict[str, Any]:
    """Makes the data, runs the pipeline on it, and returns its figures.

    ``beam_pipeline_args`` (comma-separated, as ``greenkfp run`` takes them) go to the
    run when given, so TFDV and TFMA run through that Beam runner.
    """
    folder = root / f"rows-{rows}"
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data.csv"
    check_disk(folder, rows, len(base.to_csv(index=False)) / len(base))
    started = time.monotonic()
    write_data(base, rows, seed, data)
    print(
        f"[{rows:,} rows] data written ({data.stat().st_size / 1e6:.1f} MB, "
        f"{time.monotonic() - started:.1f} s)",
        flush=True,
    )
    output = folder / "run"
    command = [
        sys.executable,
        "-m",
        "greenkfp",
        "run",
        "--data",
        str(data),
        *CLI_ARGUMENTS,
        "--output-dir",
        str(output),
    ]
    if beam_pipeline_args:
        command.append(f"--beam-pipeline-args={beam_pipeline_args}")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    memory = TreeMemory(process.pid)
    memory.start()
    tail: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        tail = (tail + [line])[-40:]
        if m := _STEP_START.match(line):
            memory.step = m.group(3).split(" (")[-1].rstrip(")")
            print(f"[{rows:,} rows] {line}", flush=True)
        elif _STEP_END.match(line):
            memory.step = None
            print(f"[{rows:,} rows] {line}", flush=True)
        elif line.startswith("      "):
            print(f"[{rows:,} rows] {line}", flush=True)
    code = process.wait()
    memory.done.set()
    memory.join()
    summary_path = output / "run_summary.json"
    if not summary_path.exists():
        print("\n".join(tail), file=sys.stderr)
        return {"status": f"failed (exit {code}, no summary)", "steps": []}
    summary = json.loads(summary_path.read_text())
    steps = [
        {
            "step": step["name"],
            "status": step["status"],
            "wall_s": round(float(step["duration_s"]), 2),
            "peak_rss_mb": round(memory.peak.get(step["name"], 0) / 2**20, 1),
        }
        for step in summary["steps"]
    ]
    if summary["status"] != "succeeded":
        print("\n".join(tail), file=sys.stderr)
    return {
        "status": summary["status"],
        "error": summary.get("error", ""),
        "duration_s": round(float(summary["duration_s"]), 1),
        "csv_mb": round(data.stat().st_size / 1e6, 1),
        "steps": steps,
    }


def growth(sizes: list[int], runs: dict[str, dict]) -> list[dict[str, Any]]:
    """Per step and consecutive pair of sizes: time and RSS growth beside rows growth."""
    rows = []
    for small, large in zip(sizes, sizes[1:]):
        before = {s["step"]: s for s in runs[str(small)]["steps"]}
        for step in runs[str(large)]["steps"]:
            earlier = before.get(step["step"])
            if not earlier:
                continue
            rows.append(
                {
                    "step": step["step"],
                    "from_rows": small,
                    "to_rows": large,
                    "rows_growth": round(large / small, 2),
                    "time_growth": round(step["wall_s"] / max(earlier["wall_s"], 0.01), 2),
                    "rss_growth": round(step["peak_rss_mb"] / max(earlier["peak_rss_mb"], 0.1), 2),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(float(s)) for s in text.split(",") if s.strip()],
        default=list(DEFAULT_SIZES),
        help="comma-separated row counts (default 10000,100000,1000000)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", default="", help="where data and runs go (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep data and runs")
    parser.add_argument(
        "--beam-pipeline-args",
        default="",
        help="comma-separated Beam options for TFDV and TFMA, passed to greenkfp run "
        "(e.g. --beam-pipeline-args=--direct_running_mode=multi_processing,"
        "--direct_num_workers=2); default: none (TFDV in memory, TFMA in process)",
    )
    args = parser.parse_args()
    sizes = sorted(set(args.sizes))
    beam = f"; Beam: {args.beam_pipeline_args}" if args.beam_pipeline_args else ""
    print(f"scale benchmark on {', '.join(f'{n:,}' for n in sizes)} rows; data: {DATA_NOTE}{beam}")
    base = embedded_data()
    runs: dict[str, dict] = {}
    root = Path(args.runs_dir or tempfile.mkdtemp(prefix="greenkfp-scale-"))
    try:
        for rows in sizes:
            runs[str(rows)] = run_size(rows, root, args.seed, base, args.beam_pipeline_args)
            run = runs[str(rows)]
            print(
                f"\n{rows:,} rows: {run['status']} in {run.get('duration_s', 0):.0f} s "
                f"(CSV {run.get('csv_mb', 0)} MB)"
            )
            print(f"  {'step':<34}{'wall s':>9}{'peak RSS MB':>13}")
            for step in run["steps"]:
                print(f"  {step['step']:<34}{step['wall_s']:>9.1f}{step['peak_rss_mb']:>13.0f}")
            print(flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    factors = growth(sizes, runs)
    if factors:
        print(f"  {'step':<34}{'rows x':>8}{'time x':>8}{'RSS x':>8}")
        for row in factors:
            print(
                f"  {row['step']:<34}{row['rows_growth']:>8.1f}"
                f"{row['time_growth']:>8.2f}{row['rss_growth']:>8.2f}"
            )
    all_steps = [s for run in runs.values() for s in run["steps"]]
    print(
        json.dumps(
            {
                "data": DATA_NOTE,
                "beam_pipeline_args": args.beam_pipeline_args,
                "sizes": sizes,
                "runs": runs,
                "growth": factors,
                "max_peak_rss_mb": max((s["peak_rss_mb"] for s in all_steps), default=None),
                "max_duration_s": max(
                    (r.get("duration_s", 0) for r in runs.values()), default=None
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
