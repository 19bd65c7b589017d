"""compress_model's work: compress a trained model, measure both, keep the outputs."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared import step_keys as keys
from greenkfp.components._shared.binary_metrics import binary_metrics
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.labels import encode_label
from greenkfp.components._shared.model_artifact import (
    CORE_TFLITE,
    KERAS_FILENAME,
    PREPROCESS_TFLITE,
    SAVED_MODEL_DIRNAME,
    SCORES_OUTPUT,
    load_keras_model,
    load_metadata,
    write_manifest,
)
from greenkfp.components._shared.model_inputs import model_input_specs
from greenkfp.components._shared.saved_model import write_saved_model
from greenkfp.components._shared.task_head import task_head
from greenkfp.components._shared.tflite_runtime import CompressedModel
from greenkfp.components.compression import measure, optimize, stages
from greenkfp.components.compression.config import (
    AUTO,
    INT8,
    PRUNE,
    PTQ_METHODS,
    QAT,
    CompressionConfig,
)

Log = Callable[[str], None]


@dataclasses.dataclass
class Candidate:
    """One compressed variant of the core and its quality on the eval data."""

    name: str
    methods: list[str]
    sparsity: float
    core_tflite: bytes
    keras_core: Any  # the pruned / QAT Keras core, None for post-training only
    total_bytes: int = 0
    gzip_bytes: int = 0
    accuracy: float = 0.0
    auc: float = 0.0
    accuracy_drop: float = 0.0
    auc_drop: float = 0.0
    within_budget: bool = True

    def row(self) -> dict[str, Any]:
        """The candidate's figures, JSON-friendly (no model)."""
        keys = ("name", "methods", "sparsity", "total_bytes", "gzip_bytes", "accuracy", "auc")
        row = {k: getattr(self, k) for k in keys}
        row.update(
            accuracy_drop=self.accuracy_drop,
            auc_drop=self.auc_drop,
            within_budget=self.within_budget,
        )
        return row


@dataclasses.dataclass
class CompressionOutcome:
    """What :func:`run_compress_model` returns.

    Attributes:
        figures: Both models' figures, ratios and drops, for the step's Metrics (keys from
            ``_shared.step_keys``).
        candidates: Every candidate tried, as :meth:`Candidate.row`.
        chosen: The name of the candidate kept.
        metadata: The compressed model's manifest and the settings.
    """

    figures: dict[str, float]
    candidates: list[dict[str, Any]]
    chosen: str
    metadata: dict[str, Any]


def run_compress_model(
    *,
    model_dir: str,
    train_path: str,
    eval_path: str,
    output_dir: str,
    config: Optional[CompressionConfig] = None,
    country_iso_code: str = "",
    region: str = "",
    log: Log = print,
) -> CompressionOutcome:
    """Compresses a ``train_model`` output and writes the compressed model to ``output_dir``.

    The model is cut at its ``features`` layer (see ``stages``); the preprocessing stage
    stays float32 and exact, the core is pruned / quantized as ``config.methods`` say (or,
    for ``auto``, the smallest candidate of a grid within the quality budget is kept).
    Base and compressed models are then measured the same way: end to end from raw rows
    through the TFLite interpreter (base: float32 conversion of the trained model).

    Args:
        model_dir: The trained ``Model`` folder (``keras_model.keras``, metadata).
        train_path: Training data (fine-tuning, int8 calibration rows).
        eval_path: Evaluation data (quality, latency rows).
        output_dir: Receives ``model.tflite``, ``preprocess.tflite``,
            ``compressed_model.json`` and, for pruning or QAT, ``saved_model/``.
        config: Methods and settings; the defaults run ``auto``.
        country_iso_code: Grid country for metering inference energy.
        region: Grid region.
        log: Receives progress lines.

    Returns:
        The outcome: figures named as in the component's docstring, every candidate, the
        chosen one and metadata.

    Raises:
        InputError: On a model that is not a Keras model from ``train_model``, data
            without the label or features, empty data, or invalid settings.
    """
    config = config or CompressionConfig()
    metadata = load_metadata(model_dir)
    keras_model = _load_keras(model_dir)
    preprocess, core = stages.split_model(keras_model)
    label = metadata["label_column"]
    train_df = _read(train_path, "train", label)
    eval_df = _read(eval_path, "eval", label)
    pos, neg = metadata["positive_label"], metadata["negative_label"]
    y_train = encode_label(train_df[label], pos, neg).astype(np.float32)
    y_eval = encode_label(eval_df[label], pos, neg)
    x_train = stages.encode(preprocess, train_df)
    rng = np.random.default_rng(config.seed)
    take = min(config.representative_samples, len(x_train))
    representative = x_train[rng.choice(len(x_train), size=take, replace=False)]
    loss = task_head(metadata.get("task", "binary")).make_loss

    preprocess_tflite = optimize.to_tflite(preprocess)
    inputs = {name: dtype.name for name, dtype, _ in model_input_specs(preprocess)}
    base_core = optimize.to_tflite(core)
    base = CompressedModel(preprocess_tflite, base_core, inputs, num_threads=config.threads)
    base_scores = base.predict_inputs(base.to_inputs(eval_df))
    base_quality = binary_metrics(y_eval, base_scores)
    base_bytes, base_gzip = measure.sizes([preprocess_tflite, base_core])
    log(
        f"base: {base_bytes:,} B ({base_gzip:,} B gzipped), accuracy "
        f"{base_quality['accuracy']:.4f}, auc {base_quality['auc']:.4f}"
    )

    def fine_tune_args() -> dict[str, Any]:
        return dict(
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            loss=loss(),
            seed=config.seed,
        )

    def build(methods: list[str], sparsity: float, pruned: Any = None) -> Candidate:
        model, keras_level = core, False
        if PRUNE in methods:
            model = pruned or optimize.prune(
                core,
                x_train,
                y_train,
                sparsity=sparsity,
                schedule=config.schedule,
                epochs=config.fine_tune_epochs,
                **fine_tune_args(),
            )
            keras_level = True
        if QAT in methods:
            model = optimize.quantization_aware(
                model,
                x_train,
                y_train,
                preserve_sparsity=PRUNE in methods,
                epochs=config.fine_tune_epochs,
                **fine_tune_args(),
            )
            keras_level = True
        ptq = next((m for m in methods if m in PTQ_METHODS), None)
        tflite = optimize.to_tflite(model, ptq, representative, optimize=QAT in methods)
        name = "+".join(f"{m}{sparsity:g}" if m == PRUNE else m for m in methods) or "float32"
        cand = Candidate(name, list(methods), sparsity, tflite, model if keras_level else None)
        _score(cand, CompressedModel(preprocess_tflite, tflite, inputs), eval_df, y_eval)
        cand.accuracy_drop = base_quality["accuracy"] - cand.accuracy
        cand.auc_drop = base_quality["auc"] - cand.auc
        cand.within_budget = (
            cand.accuracy_drop <= config.max_accuracy_drop + 1e-12
            and cand.auc_drop <= config.max_auc_drop + 1e-12
        )
        cand.total_bytes, cand.gzip_bytes = measure.sizes([preprocess_tflite, tflite])
        return cand

    candidates: list[Candidate] = []
    if config.methods == [AUTO]:
        grid = [(s, q) for s in config.auto_sparsities for q in config.auto_quantizations]
        pruned_by_sparsity: dict[float, Any] = {}
        for i, (sparsity, quant) in enumerate(grid, 1):
            methods = [PRUNE, quant] if sparsity > 0 else [quant]
            if sparsity > 0 and sparsity not in pruned_by_sparsity:
                pruned_by_sparsity[sparsity] = optimize.prune(
                    core,
                    x_train,
                    y_train,
                    sparsity=sparsity,
                    schedule=config.schedule,
                    epochs=config.fine_tune_epochs,
                    **fine_tune_args(),
                )
            cand = build(methods, sparsity, pruned_by_sparsity.get(sparsity))
            candidates.append(cand)
            log(f"candidate {i}/{len(grid)} {_describe(cand)}")
        chosen = choose(candidates)
    else:
        sparsity = config.sparsity if PRUNE in config.methods else 0.0
        chosen = build(config.methods, sparsity)
        candidates.append(chosen)
        log(f"compressed {_describe(chosen)}")
    log(f"kept {chosen.name}")

    manifest = _write_outputs(
        output_dir, chosen, preprocess, preprocess_tflite, inputs, metadata, config
    )
    compressed = CompressedModel(
        preprocess_tflite, chosen.core_tflite, inputs, num_threads=config.threads
    )
    serving = _serving_figures(base, compressed, eval_df, config, country_iso_code, region, log)
    compressed_scores = compressed.predict_inputs(compressed.to_inputs(eval_df))
    core_model = chosen.keras_core if chosen.keras_core is not None else core
    agreement = np.mean((base_scores >= 0.5) == (compressed_scores >= 0.5))
    figures = {
        **keys.TFLITE_SIZE.figures(base_bytes, chosen.total_bytes),
        keys.SIZE_RATIO: base_bytes / chosen.total_bytes,
        **keys.GZIP_SIZE.figures(base_gzip, chosen.gzip_bytes),
        keys.GZIP_SIZE_RATIO: base_gzip / chosen.gzip_bytes,
        keys.SPARSITY: optimize.weight_sparsity(core_model),
        **keys.EVAL_ACCURACY.figures(base_quality["accuracy"], chosen.accuracy),
        keys.ACCURACY_DROP: chosen.accuracy_drop,
        **keys.EVAL_AUC.figures(base_quality["auc"], chosen.auc),
        keys.AUC_DROP: chosen.auc_drop,
        keys.PREDICTION_AGREEMENT: float(agreement),
        **serving,
        keys.CANDIDATES_TRIED: float(len(candidates)),
        keys.WITHIN_BUDGET: float(chosen.within_budget),
    }
    return CompressionOutcome(
        figures=figures,
        candidates=[c.row() for c in candidates],
        chosen=chosen.name,
        metadata={**manifest, "config": config.to_dict()},
    )


def choose(candidates: list[Candidate]) -> Candidate:
    """The smallest (gzipped) candidate within budget; else the one that lost least AUC."""
    within = [c for c in candidates if c.within_budget]
    if within:
        return min(within, key=lambda c: (c.gzip_bytes, c.total_bytes))
    return min(candidates, key=lambda c: (c.auc_drop, c.accuracy_drop, c.gzip_bytes))


def _describe(cand: Candidate) -> str:
    budget = "within budget" if cand.within_budget else "over budget"
    return (
        f"{cand.name}: {cand.total_bytes:,} B ({cand.gzip_bytes:,} B gzipped), accuracy "
        f"{cand.accuracy:.4f} (drop {cand.accuracy_drop:+.4f}), auc {cand.auc:.4f} "
        f"(drop {cand.auc_drop:+.4f}), {budget}"
    )


def _score(cand: Candidate, model: CompressedModel, eval_df: pd.DataFrame, y: np.ndarray) -> None:
    quality = binary_metrics(y, model.predict_inputs(model.to_inputs(eval_df)))
    cand.accuracy, cand.auc = quality["accuracy"], quality["auc"]


def _serving_figures(
    base: CompressedModel,
    compressed: CompressedModel,
    eval_df: pd.DataFrame,
    config: CompressionConfig,
    country_iso_code: str,
    region: str,
    log: Log,
) -> dict[str, float]:
    """Batch-1 latency and inference energy of both models, measured alike.

    Both models were loaded with ``config.threads`` interpreter threads.
    """
    measured: dict[str, dict[str, float]] = {}
    for name, model in (("base", base), ("compressed", compressed)):
        arrays = model.to_inputs(eval_df)
        rows = [{k: v[i : i + 1] for k, v in arrays.items()} for i in range(len(eval_df))]

        def predict_one(i: int, model: CompressedModel = model, rows: list = rows) -> None:
            model.predict_inputs(rows[i])

        latency = measure.latency_ms(
            predict_one, len(rows), config.latency_runs, config.latency_warmup
        )
        energy = measure.inference_energy_kwh_per_1k(
            predict_one,
            len(rows),
            config.energy_predictions,
            min_seconds=config.energy_min_seconds,
            country_iso_code=country_iso_code,
            region=region,
        )
        measured[name] = {**latency, "energy": energy}
        log(
            f"{name}: batch-1 latency p50 {latency['p50']:.4f} ms, p95 {latency['p95']:.4f} ms "
            f"({config.threads} thread(s)); {energy:.3e} kWh per 1,000 predictions"
        )
    before, after = measured["base"], measured["compressed"]
    return {
        keys.LATENCY_THREADS: float(config.threads),
        **keys.LATENCY_P50.figures(before["p50"], after["p50"]),
        **keys.LATENCY_P95.figures(before["p95"], after["p95"]),
        **keys.INFERENCE_ENERGY.figures(before["energy"], after["energy"]),
        keys.LATENCY_SPEEDUP_P50: before["p50"] / max(after["p50"], 1e-9),
        keys.INFERENCE_ENERGY_RATIO: before["energy"] / max(after["energy"], 1e-18),
    }


def _write_outputs(
    output_dir: str,
    chosen: Candidate,
    preprocess: Any,
    preprocess_tflite: bytes,
    inputs: dict[str, str],
    metadata: dict[str, Any],
    config: CompressionConfig,
) -> dict[str, Any]:
    """Writes the compressed model folder; returns its manifest."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, PREPROCESS_TFLITE), "wb") as f:
        f.write(preprocess_tflite)
    with open(os.path.join(output_dir, CORE_TFLITE), "wb") as f:
        f.write(chosen.core_tflite)
    saved_model = ""
    if chosen.keras_core is not None:
        full = stages.join_stages(preprocess, chosen.keras_core)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, SAVED_MODEL_DIRNAME)
            write_saved_model(full, path)
            target = os.path.join(output_dir, SAVED_MODEL_DIRNAME)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(path, target)
        saved_model = SAVED_MODEL_DIRNAME
    manifest = {
        "format": "greenkfp-compressed-v1",
        "preprocess": PREPROCESS_TFLITE,
        "model": CORE_TFLITE,
        "saved_model": saved_model,
        "inputs": inputs,
        "output": SCORES_OUTPUT,
        "methods": chosen.methods,
        "candidate": chosen.name,
        "target_sparsity": chosen.sparsity,
        "int8_activations": INT8 in chosen.methods or QAT in chosen.methods,
        "label_column": metadata["label_column"],
        "positive_label": metadata["positive_label"],
        "negative_label": metadata["negative_label"],
        "task": metadata.get("task", "binary"),
    }
    write_manifest(output_dir, manifest)
    return manifest


def _load_keras(model_dir: str) -> Any:
    try:
        return load_keras_model(model_dir)
    except InputError:
        raise InputError(
            f"{model_dir} holds no {KERAS_FILENAME}: compress_model needs the Keras model "
            "that train_model writes"
        ) from None
    except Exception as err:  # a corrupt or foreign file
        raise InputError(
            f"cannot load {os.path.join(model_dir, KERAS_FILENAME)} as a Keras 2 model: {err}"
        ) from err


def _read(path: str, what: str, label: str) -> pd.DataFrame:
    df = uri_io.read_dataset(path)
    if len(df) == 0:
        raise InputError(f"the {what} dataset {path} has no rows")
    if label not in df.columns:
        raise InputError(f"the {what} dataset lacks the label column {label!r}")
    return df
