"""Benchmark: fairness mitigation through ``greenkfp run``, on a planted bias and on the demo.

Two runs of the sustainable training pipeline, each with a policy that gates one fairness
gap and names ``mitigation: auto``:

(a) **planted**: synthetic credit data (6,000 rows, seeded) whose training labels carry a
    planted bias: 30% of the positive labels of ``sex=female`` rows are flipped to 0 (the
    evaluation rows keep the true labels). The trained model then misses female positives:
    a false negative rate gap by sex of about 0.3, as the fairness tests plant it. The
    policy bounds that gap at 0.1. Target: mitigation brings it within 0.1, with at most 2
    points of accuracy lost, and the pipeline deploys.
(b) **embedded**: the embedded German Credit data with a tight false positive rate bound
    by age (0.02). Mitigation is triggered; the outcome is reported whether or not it
    succeeds (a refused model is refused with the reason).
(c) **reweigh**: the planted data of (a) with ``mitigation: reweigh``: ``train_model``
    trains an unweighted reference and the model with reweighing sample weights; the
    mitigation step reports the gap of the reference (before) and of the reweighed,
    compressed model (after). Its energy is the reference training's.

Figures per run (from ``run_summary.json`` and the mitigation step's record): the method
kept, each gated gap before -> after with its 95% interval, accuracy and AUC before and
after (on the evaluation rows), the mitigation step's energy, approved and deployed, and
the reason.

The last line printed is one JSON object::

    {"planted": {...}, "embedded": {...}, "reweigh": {...}, "planted_target_met": true}

Usage::

    .venv/bin/python benchmarks/fairness_mitigation.py [--runs-dir DIR] [--epochs N] \
        [--runs planted,embedded,reweigh]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: Share of the female positives' training labels flipped to 0: a FNR gap by sex of ~0.3.
FLIP = 0.3

PLANTED_POLICY = {
    "min_auc": 0.6,
    "max_fairness_gap": {"false_negative_rate": {"sex": 0.1}},
    "mitigation": "auto",
}
REWEIGH_POLICY = {**PLANTED_POLICY, "mitigation": "reweigh"}
EMBEDDED_POLICY = {
    "min_auc": 0.6,
    "max_fairness_gap": {"false_positive_rate": {"age": 0.02}},
    "mitigation": "auto",
}


def planted_data(folder: Path, rows: int = 6000, seed: int = 7) -> tuple[Path, Path]:
    """Writes train and eval CSVs; the train labels of female positives are half flipped."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], rows, p=[0.45, 0.55])
    age = rng.integers(19, 75, rows)
    income = rng.lognormal(8.0, 0.5, rows).round(0)
    debt = rng.gamma(2.0, 1500.0, rows).round(0)
    duration = rng.integers(6, 60, rows)
    housing = rng.choice(["own", "rent", "free"], rows, p=[0.6, 0.3, 0.1])
    logit = (
        0.9 * (np.log(income) - 8.0) / 0.5
        - 0.6 * (debt - 3000.0) / 2100.0
        - 0.02 * (duration - 30)
        + 0.015 * (age - 45)
        + 0.4 * (housing == "own")
        + rng.normal(0.0, 0.6, rows)
    )
    risk = (rng.random(rows) < 1.0 / (1.0 + np.exp(-1.6 * logit))).astype(int)
    df = pd.DataFrame(
        {
            "risk": risk,
            "sex": sex,
            "age": age,
            "income": income,
            "debt": debt,
            "duration": duration,
            "housing": housing,
        }
    )
    is_eval = rng.random(rows) < 0.25
    train, evaluation = df[~is_eval].copy(), df[is_eval].copy()
    flip = (train["sex"] == "female") & (train["risk"] == 1) & (rng.random(len(train)) < FLIP)
    train.loc[flip, "risk"] = 0
    paths = folder / "planted_train.csv", folder / "planted_eval.csv"
    train.to_csv(paths[0], index=False)
    evaluation.to_csv(paths[1], index=False)
    return paths


def run(output_dir: Path, policy: dict, extra: list[str]) -> dict:
    """Runs the sustainable pipeline through the CLI; returns its summary and figures."""
    output_dir.mkdir(parents=True, exist_ok=True)
    policy_file = output_dir.parent / f"{output_dir.name}_policy.yaml"
    policy_file.write_text(json.dumps(policy))
    command = [sys.executable, "-m", "greenkfp", "run", "--output-dir", str(output_dir)]
    command += ["--policy", str(policy_file), "--country", "DEU", *extra]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = round(time.monotonic() - started, 1)
    summary_path = output_dir / "run_summary.json"
    if not summary_path.exists():
        sys.exit(f"greenkfp run failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    summary = json.loads(summary_path.read_text())
    step = next((s for s in summary["steps"] if s["name"] == "mitigate-fairness"), None)
    record = {}
    if step is not None:
        record = step["outputs"].get("mitigation", {}).get("metadata", {})
    quality = record.get("mitigation_quality") or {}
    before, after = quality.get("before") or {}, quality.get("after") or {}
    return {
        "status": summary["status"],
        "mitigation": summary.get("mitigation"),
        "mitigation_reason": summary.get("mitigation_reason"),
        "gaps": [
            {
                "gap": f"{g['metric']} by {g['feature']}",
                "bound": g["bound"],
                "before": g["before"],
                "after": g["after"],
            }
            for g in summary.get("mitigation_gaps") or []
        ],
        "accuracy_before": before.get("accuracy"),
        "accuracy_after": after.get("accuracy"),
        "auc_before": before.get("auc"),
        "auc_after": after.get("auc"),
        # reweigh: the reference training's energy (train_model); else the step's own.
        "mitigation_energy_kwh": (record.get("mitigation_energy") or {}).get(
            "energy_kwh", step["energy_kwh"] if step else None
        ),
        "approved": summary.get("approved"),
        "deployed": summary.get("deployed"),
        "gate_reasons": [c["name"] for c in summary.get("checks") or [] if c["passed"] is False],
        "seconds": seconds,
        "energy_method": (step or {}).get("energy", {}).get("energy_method", ""),
    }


def _line(name: str, figures: dict) -> str:
    gaps = "; ".join(
        f"{g['gap']} {g['before']['gap']:.3f} -> {g['after']['gap']:.3f} (bound {g['bound']})"
        for g in figures["gaps"]
        if g["before"].get("gap") is not None and g["after"].get("gap") is not None
    )
    return (
        f"{name}: kept {figures['mitigation']}; {gaps}; accuracy {figures['accuracy_before']} "
        f"-> {figures['accuracy_after']}; approved {figures['approved']}, deployed "
        f"{figures['deployed']}; {figures['mitigation_reason']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs-dir", default="", help="keep the runs here (default: temp)")
    parser.add_argument("--epochs", default="", help="training epochs (default: the pipeline's)")
    parser.add_argument("--runs", default="planted,embedded,reweigh", help="which runs")
    args = parser.parse_args()
    runs = set(args.runs.split(","))
    extra = ["--epochs", args.epochs] if args.epochs else []
    planted = embedded = reweighed = None
    with tempfile.TemporaryDirectory(prefix="greenkfp-mitigation-") as tmp:
        root = Path(args.runs_dir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        train, evaluation = planted_data(root)
        planted_args = ["--data", str(train), "--eval-data", str(evaluation)]
        planted_args += ["--label-column", "risk", "--sensitive-features", "sex,age"]
        planted_args += ["--compression", "dynamic"]
        if "planted" in runs:
            print("(a) planted false negative rate gap by sex ...", flush=True)
            planted = run(root / "planted", PLANTED_POLICY, planted_args + extra)
            print(_line("planted", planted), flush=True)
        if "embedded" in runs:
            print("(b) embedded data, tight false positive rate bound by age ...", flush=True)
            embedded_args = ["--compression", "dynamic", *extra]
            embedded = run(root / "embedded", EMBEDDED_POLICY, embedded_args)
            print(_line("embedded", embedded), flush=True)
        if "reweigh" in runs:
            print("(c) planted gap by sex, mitigation: reweigh ...", flush=True)
            reweighed = run(root / "reweigh", REWEIGH_POLICY, planted_args + extra)
            print(_line("reweigh", reweighed), flush=True)
    gap = planted["gaps"][0] if planted and planted["gaps"] else {}
    met = planted and bool(
        planted["mitigation"] not in (None, "none")
        and gap.get("after", {}).get("gap") is not None
        and gap["after"]["gap"] <= 0.1
        and planted["accuracy_before"] - planted["accuracy_after"] <= 0.02
        and planted["deployed"]
    )
    print(
        json.dumps(
            {
                "planted": planted,
                "embedded": embedded,
                "reweigh": reweighed,
                "planted_target_met": met,
            }
        )
    )


if __name__ == "__main__":
    main()
