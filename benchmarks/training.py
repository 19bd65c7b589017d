"""Benchmark: training time of ``trainer.train`` on the embedded data and on resamples of it.

For each size, the embedded German Credit rows (1,000) are used as they are (``--rows 0``)
or resampled with replacement to the given row count by ``scale.resample`` (the scale
benchmark's data: seeded 5 % noise on the numeric columns, rounded back to integers) so
that rows are not exact copies.
The rows are split 80/20 (seed 42) into training and evaluation data as ``import_csv``
does, and trained with the default hyperparameters (or ``--hparams`` JSON), quietly. The
figures are wall times of one run on this machine: compare them within one invocation.

The last line printed is one JSON object::

    {"runs": [{"rows": 1000, "n_train": 720, "n_validation": 80, "n_eval": 200,
               "train_call_s": 9.1, "fit_s": 7.0,
               "epochs_run": 12, "batch_size": 32, "auc": 0.77, ...}, ...]}

Usage::

    .venv/bin/python benchmarks/training.py                 # the embedded data
    .venv/bin/python benchmarks/training.py --rows 0 100000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
from scale import resample  # benchmarks/ is on the path when run as a script

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "pipelines" / "data" / "german_credit.csv"
LABEL = "risk"


def run(rows: int, hparams: dict) -> dict:
    """Trains once on ``rows`` rows (0: the embedded data as is); returns its figures."""
    from greenkfp.components.training import trainer
    from greenkfp.components.training.model import infer_feature_spec

    df = pd.read_csv(DATA)
    if rows:
        df = resample(df, rows, seed=0)
    eval_df = df.sample(frac=0.2, random_state=42)
    train_df = df.drop(eval_df.index).reset_index(drop=True)
    eval_df = eval_df.reset_index(drop=True)
    spec = infer_feature_spec(train_df, LABEL, categorical=["job"])
    t0 = time.perf_counter()
    result = trainer.train(
        train_df,
        eval_df,
        LABEL,
        1,
        hparams,
        feature_spec=spec,
        on_epoch_end=lambda epoch, logs: None,
    )
    seconds = time.perf_counter() - t0
    summary = result.summary()
    return {
        "rows": len(df),
        "resampled": bool(rows),
        "n_train": result.n_train,
        "n_validation": summary.get("n_validation", 0),
        "n_eval": len(eval_df),
        "train_call_s": round(seconds, 2),
        "fit_s": round(result.train_seconds, 2),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "batch_size": summary["hparams"]["batch_size"],
        "epochs_max": summary["hparams"]["epochs"],
        "auc": round(result.eval_metrics["auc"], 4),
        "stopped_by_time_budget": bool(summary.get("stopped_by_time_budget", False)),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[0])
    parser.add_argument("--hparams", default="{}", help="hyperparameters as JSON")
    args = parser.parse_args(argv)
    hparams = json.loads(args.hparams)
    runs = []
    for rows in args.rows:
        figures = run(rows, hparams)
        print(
            f"{figures['rows']:>9,} rows ({'resampled, seeded noise' if rows else 'embedded'}): "
            f"{figures['train_call_s']:.1f} s (fit {figures['fit_s']:.1f} s), "
            f"{figures['epochs_run']}/{figures['epochs_max']} epochs at batch "
            f"{figures['batch_size']}, eval AUC {figures['auc']:.4f}",
            flush=True,
        )
        runs.append(figures)
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main(sys.argv[1:])
