"""Benchmark: what compression buys on a reference model and on the pipeline's default model.

Trains two models on the bundled German credit data (seeded, stratified 80/20 split):

* ``reference``: the default tabular network with hidden layers 1024-1024-256, about
  1.35 M parameters;
* ``default``: the pipeline's default network (hidden 64-32, about 4 k parameters).

and compresses each with ``compress_model``'s logic (``task.run_compress_model``) and a
1-point accuracy budget (0.02 AUC):

* ``default`` runs what the pipeline runs: ``auto`` with the component's default grid and
  objective (energy per 1,000 predictions); it must ship a candidate within budget that
  costs no more energy and no more batch-1 latency than the base;
* ``reference`` runs the explicit methods ``prune`` (sparsity 0.9) + ``int8``, the heavy
  compression the reference targets are about, with the budget verdict recorded.

Base and compressed models are measured alike, end to end from raw rows through the
TFLite interpreter (one thread, XNNPACK delegate): size, gzipped size, accuracy, AUC, p50
latency over ``--latency-runs`` calls after warm-up and inference energy per 1,000
predictions metered by codecarbon, at batch 1 and at a serving batch of 64.

Targets: on the reference model, gzipped size at least 10x smaller, p50 batch-1 latency
at least 2x faster, accuracy drop at most 1 percentage point; on the default model,
``within_budget`` true, inference energy ratio and p50 speed-up at least 1.

It prints a table, writes it to ``benchmarks/RESULTS.md`` with the machine it ran on,
and its last line is one JSON object with the reference model's figures and the default
model's under ``default``::

    {"param_count": ..., "gzip_size_ratio": ..., "size_ratio": ...,
     "latency_speedup_p50": ..., "accuracy_drop_pp": ..., "inference_energy_ratio": ...,
     "default": {"chosen": ..., "within_budget": true, "fallback": ...,
                 "inference_energy_ratio": ..., "latency_speedup_p50": ..., ...}}

Usage::

    .venv/bin/python benchmarks/compression.py            # about 4 min on 2 cores
    .venv/bin/python benchmarks/compression.py --help
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_USE_LEGACY_KERAS"] = "1"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT / "pipelines" / "data" / "german_credit.csv"
RESULTS = REPO_ROOT / "benchmarks" / "RESULTS.md"
MODELS = {"reference": [1024, 1024, 256], "default": [64, 32]}
#: The reference model gets heavy pruning as explicit methods; the default model what the
#: pipeline runs (the component's defaults: auto, objective energy).
SETTINGS = {
    "reference": {"methods": ["prune", "int8"], "sparsity": 0.9},
    "default": {"methods": ["auto"]},
}

COLUMNS = [
    ("model", "model"),
    ("param_count", "parameters"),
    ("chosen", "kept"),
    ("size_ratio", "size ratio"),
    ("gzip_size_ratio", "gzip size ratio"),
    ("accuracy_drop_pp", "accuracy drop (pp)"),
    ("accuracy_drop_upper_pp", "drop bound (pp)"),
    ("within_budget", "within budget"),
    ("fallback", "fallback"),
    ("auc_drop", "AUC drop"),
    ("base_latency_p50_ms", "base p50 (ms)"),
    ("compressed_latency_p50_ms", "compressed p50 (ms)"),
    ("latency_speedup_p50", "p50 speed-up"),
    ("batch_latency_speedup_p50", "p50 speed-up, batch 64"),
    ("inference_energy_ratio", "energy ratio"),
    ("batch_inference_energy_ratio", "energy ratio, batch 64"),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--latency-runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-results-file", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def cpu_model() -> str:
    """Returns the CPU model name, from /proc/cpuinfo where readable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def benchmark_model(name: str, hidden: list[int], args: argparse.Namespace, work: Path) -> dict:
    """Trains one model, compresses it, and returns its row of figures."""
    import pandas as pd

    from greenkfp.components.compression.config import CompressionConfig
    from greenkfp.components.compression.task import run_compress_model
    from greenkfp.components.data_validation.ingest import split_train_eval
    from greenkfp.components.training import trainer
    from greenkfp.components.training.export import save_model
    from greenkfp.components.training.model import infer_feature_spec

    df = pd.read_csv(args.data)
    train_df, eval_df = split_train_eval(df, 0.2, args.seed, stratify_column="risk")
    train_path, eval_path = work / f"{name}-train.csv", work / f"{name}-eval.csv"
    train_df.to_csv(train_path, index=False)
    eval_df.to_csv(eval_path, index=False)
    spec = infer_feature_spec(train_df, "risk", categorical=["job"])
    hparams = {"epochs": args.epochs, "hidden_units": hidden, "seed": args.seed}
    print(f"[{name}] training hidden={hidden} ...", flush=True)
    result = trainer.train(
        train_df, eval_df, "risk", "1", hparams, feature_spec=spec, on_epoch_end=lambda *_: None
    )
    model_dir = work / f"{name}-model"
    save_model(result, str(model_dir))
    config = CompressionConfig(
        **SETTINGS[name],
        max_accuracy_drop=0.01,
        max_auc_drop=0.02,
        latency_runs=args.latency_runs,
        latency_warmup=100,
        energy_min_seconds=3.0,
        seed=args.seed,
    )
    outcome = run_compress_model(
        model_dir=str(model_dir),
        train_path=str(train_path),
        eval_path=str(eval_path),
        output_dir=str(work / f"{name}-compressed"),
        config=config,
        log=lambda line: print(f"[{name}] {line}", flush=True),
    )
    m = outcome.figures
    return {
        "model": name,
        "param_count": int(result.param_count),
        "chosen": outcome.chosen,
        **{k: m[k] for k in ("size_ratio", "gzip_size_ratio", "auc_drop")},
        "accuracy_drop_pp": 100.0 * m["accuracy_drop"],
        "accuracy_drop_upper_pp": 100.0 * m["accuracy_drop_upper"],
        "within_budget": bool(m["within_budget"]),
        "fallback": bool(m["fallback"]),
        **{k: m[k] for k in ("base_latency_p50_ms", "compressed_latency_p50_ms")},
        **{k: m[k] for k in ("latency_speedup_p50", "batch_latency_speedup_p50")},
        **{k: m[k] for k in ("inference_energy_ratio", "batch_inference_energy_ratio")},
        "base_accuracy": m["base_accuracy"],
        "compressed_accuracy": m["compressed_accuracy"],
        "prediction_agreement": m["prediction_agreement"],
    }


def cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(cell(r[key]) for key, _ in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="greenkfp-bench-compression-") as tmp:
        rows = [benchmark_model(n, h, args, Path(tmp)) for n, h in MODELS.items()]
    table = markdown_table(rows)
    machine = (
        f"{cpu_model()}, {os.cpu_count()} CPU(s), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}"
    )
    reference, default = rows
    verdicts = [
        f"gzip size ratio {reference['gzip_size_ratio']:.2f} (target >= 10): "
        f"{'met' if reference['gzip_size_ratio'] >= 10 else 'MISSED'}",
        f"p50 speed-up {reference['latency_speedup_p50']:.2f} (target >= 2): "
        f"{'met' if reference['latency_speedup_p50'] >= 2 else 'MISSED'}",
        f"accuracy drop {reference['accuracy_drop_pp']:.2f} pp (target <= 1): "
        f"{'met' if reference['accuracy_drop_pp'] <= 1 + 1e-9 else 'MISSED'}",
    ]
    default_verdicts = [
        f"within budget: {'met' if default['within_budget'] else 'MISSED'}",
        f"energy ratio {default['inference_energy_ratio']:.3f} (target >= 1): "
        f"{'met' if default['inference_energy_ratio'] >= 1 else 'MISSED'}",
        f"p50 speed-up {default['latency_speedup_p50']:.3f} (target >= 1): "
        f"{'met' if default['latency_speedup_p50'] >= 1 else 'MISSED'}",
    ]
    print()
    print(table)
    print()
    print("reference model: " + "; ".join(verdicts))
    print(f"default model ({default['chosen']}): " + "; ".join(default_verdicts))
    print(f"machine: {machine}")
    if not args.no_results_file:
        # Other benchmarks' sections (each under its own "# " title) follow this one: kept.
        text = RESULTS.read_text() if RESULTS.exists() else ""
        others = text[text.find("\n# ", 1) + 1 :] if "\n# " in text[1:] else ""
        RESULTS.write_text(
            "# Compression benchmark results\n\n"
            f"Written by `benchmarks/compression.py` on {datetime.date.today().isoformat()}.\n\n"
            f"Machine: {machine}.\n\n"
            "Ratios are base / compressed (higher is better); drops are base minus "
            "compressed; the drop bound is the exact upper 95 % bound of the accuracy drop "
            "from paired per-row decisions, which the budget verdict compares with the "
            "1-point budget. Both models run end to end from raw rows through the TFLite "
            "interpreter (XNNPACK delegate) with 1 thread, at batch 1 and at a batch of 64; "
            "base = float32 conversion of the trained model. Inference energy is "
            "codecarbon's figure for metered predictions (on a machine without RAPL it is "
            "an estimate from CPU load and time). `reference` runs prune 0.9 + int8 as "
            "explicit methods; `default` runs what the pipeline runs (auto, objective "
            "energy).\n\n"
            f"{table}\n\nReference model: {'; '.join(verdicts)}.\n\n"
            f"Default model ({default['chosen']}): {'; '.join(default_verdicts)}.\n"
            + (f"\n{others}" if others else "")
        )
        print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")
    print(
        json.dumps(
            {
                "param_count": reference["param_count"],
                "gzip_size_ratio": round(reference["gzip_size_ratio"], 4),
                "size_ratio": round(reference["size_ratio"], 4),
                "latency_speedup_p50": round(reference["latency_speedup_p50"], 4),
                "accuracy_drop_pp": round(reference["accuracy_drop_pp"], 4),
                "inference_energy_ratio": round(reference["inference_energy_ratio"], 4),
                "default": {
                    "chosen": default["chosen"],
                    "within_budget": default["within_budget"],
                    "fallback": default["fallback"],
                    **{
                        key: round(default[key], 4)
                        for key in (
                            "inference_energy_ratio",
                            "latency_speedup_p50",
                            "batch_inference_energy_ratio",
                            "batch_latency_speedup_p50",
                            "gzip_size_ratio",
                            "accuracy_drop_pp",
                        )
                    },
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
