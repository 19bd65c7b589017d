"""compress_model's work: compress a trained model, measure both, keep the outputs."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared import progress
from greenkfp.components._shared import step_keys as keys
from greenkfp.components._shared.binary_metrics import binary_metrics
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.holdout import training_carve
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
from greenkfp.components._shared.sampling import bounded_sample
from greenkfp.components._shared.saved_model import write_saved_model
from greenkfp.components._shared.task_head import task_head
from greenkfp.components._shared.tflite_runtime import CompressedModel
from greenkfp.components.compression import budget, measure, optimize, stages
from greenkfp.components.compression.config import (
    AUTO,
    FLOAT32,
    INT8,
    PRUNE,
    PTQ_METHODS,
    QAT,
    CompressionConfig,
)

Log = Callable[[str], None]


@dataclasses.dataclass
class Candidate:
    """One variant of the core (or the base model itself) and its measured figures."""

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
    accuracy_drop_upper: float = 0.0
    accuracy_drop_p_value: float = 1.0
    auc_drop: float = 0.0
    agreement: float = 1.0
    within_budget: bool = True
    validation_accuracy_drop_upper: float = 0.0
    validation_auc_drop: float = 0.0
    serving: dict[str, float] = dataclasses.field(default_factory=dict)

    def figure(self, key: str) -> float:
        """A serving figure (``measure.serving``'s keys) or a size, as a float."""
        return float(self.serving[key] if key in self.serving else getattr(self, key))

    def row(self) -> dict[str, Any]:
        """The candidate's figures, JSON-friendly (no model)."""
        names = ("name", "methods", "sparsity", "total_bytes", "gzip_bytes", "accuracy", "auc")
        names += ("accuracy_drop", "accuracy_drop_upper", "accuracy_drop_p_value", "auc_drop")
        names += ("agreement", "within_budget", "validation_accuracy_drop_upper")
        names += ("validation_auc_drop",)
        return {**{k: getattr(self, k) for k in names}, **self.serving}


@dataclasses.dataclass
class CompressionOutcome:
    """What :func:`run_compress_model` returns.

    Attributes:
        figures: Both models' figures, ratios and drops, for the step's Metrics (keys from
            ``_shared.step_keys``).
        candidates: Every candidate tried, as :meth:`Candidate.row`.
        chosen: The name of the candidate kept.
        metadata: The compressed model's manifest, the settings and ``selection`` (why
            the kept candidate was kept).
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
    log: Log = progress.report,
) -> CompressionOutcome:
    """Compresses a ``train_model`` output and writes the compressed model to ``output_dir``.

    The model is cut at its ``features`` layer (see ``stages``); the preprocessing stage
    stays float32 and exact, the core is pruned / quantized as ``config.methods`` say. For
    ``auto``, every candidate of ``config.auto_grid()`` is measured and ``budget.choose``
    keeps the best one on ``config.objective`` that is within budget and no worse than the
    base, else the float32 model.

    Rows: the validation rows that training carved from the training data (the same carve:
    fraction, cap and seed read from the model's metadata) decide each candidate's
    quality budget verdict (``within_budget``), so no choice is made on the evaluation
    rows; pruning and QAT fine-tune on the other training rows (a seeded sample of at
    most ``config.max_fine_tune_rows``), and int8 calibrates on
    ``config.representative_samples`` of those. All the evaluation rows give the reported
    quality figures (accuracy, AUC, their drops); latency and energy are measured on a
    seeded sample of at most ``config.max_serving_rows`` of them (a row's values do not
    change a fixed-shape model's cost), so the step's work beyond scoring stays bounded
    whatever the data's size.

    Every model is measured the same way: end to end from raw rows through the TFLite
    interpreter (base: float32 conversion of the trained model), at batch 1 and at
    ``config.serving_batch_size``.

    Args:
        model_dir: The trained ``Model`` folder (``keras_model.keras``, metadata).
        train_path: Training data (validation rows for the budget verdict, the rest for
            fine-tuning and int8 calibration).
        eval_path: Evaluation data (reported quality, latency and energy rows).
        output_dir: Receives ``model.tflite``, ``preprocess.tflite``,
            ``compressed_model.json`` and, for pruning or QAT, ``saved_model/``.
        config: Methods and settings; the defaults run ``auto``.
        country_iso_code: Grid country for metering inference energy.
        region: Grid region.
        log: Receives progress lines; by default they are printed as progress lines
            (``_shared/progress.py``), which ``greenkfp run`` shows as they come.

    Returns:
        The outcome: figures named as in the component's docstring, every candidate, the
        chosen one and metadata.

    Raises:
        InputError: On a model that is not a Keras model from ``train_model``, data
            without the label or features, empty data, corrupt int8 calibration rows, or
            invalid settings.
    """
    config = config or CompressionConfig()
    metadata = load_metadata(model_dir)
    keras_model = _load_keras(model_dir)
    preprocess, core = stages.split_model(keras_model)
    label = metadata["label_column"]
    train_df = _read(train_path, "train", label)
    eval_df = _read(eval_path, "eval", label)
    pos, neg = metadata["positive_label"], metadata["negative_label"]
    y_all = encode_label(train_df[label], pos, neg)
    fit_positions, validation_positions = training_carve(y_all, metadata, config.seed)
    validation_df = train_df.iloc[validation_positions].reset_index(drop=True)
    y_validation = y_all[validation_positions]
    # Fine-tuning and int8 calibration: a bounded seeded sample of the fitting rows.
    tune_positions = bounded_sample(fit_positions, config.max_fine_tune_rows, config.seed)
    y_train = y_all[tune_positions].astype(np.float32)
    y_eval = encode_label(eval_df[label], pos, neg)
    x_train = stages.encode(preprocess, train_df.iloc[tune_positions].reset_index(drop=True))
    del train_df  # only the validation and fine-tuning rows are needed from here on
    # Latency and energy: a bounded seeded sample of the eval rows (quality: all of them).
    serving_df = eval_df.iloc[
        bounded_sample(len(eval_df), config.max_serving_rows, config.seed)
    ].reset_index(drop=True)
    log(
        f"rows: quality on all {len(eval_df):,} eval rows, budget verdict on "
        f"{len(validation_df):,} validation rows; fine-tuning and int8 calibration on "
        f"{len(tune_positions):,} of {len(fit_positions):,} training rows (seeded sample, "
        f"at most {config.max_fine_tune_rows:,}); latency and energy on "
        f"{len(serving_df):,} eval rows (seeded sample, at most {config.max_serving_rows:,})"
    )
    rng = np.random.default_rng(config.seed)
    take = min(config.representative_samples, len(x_train))
    representative = x_train[rng.choice(len(x_train), size=take, replace=False)]
    loss = task_head(metadata.get("task", "binary")).make_loss

    preprocess_tflite = optimize.to_tflite(preprocess)
    inputs = {name: dtype.name for name, dtype, _ in model_input_specs(preprocess)}

    def load(core_tflite: bytes) -> CompressedModel:
        return CompressedModel(preprocess_tflite, core_tflite, inputs, num_threads=config.threads)

    def serving(model: CompressedModel) -> dict[str, float]:
        return measure.serving(
            model,
            serving_df,
            batch_size=config.serving_batch_size,
            runs=config.latency_runs,
            warmup=config.latency_warmup,
            predictions=config.energy_predictions,
            min_seconds=config.energy_min_seconds,
            country_iso_code=country_iso_code,
            region=region,
        )

    base_core = optimize.to_tflite(core)
    base = Candidate("base", [], 0.0, base_core, None)
    # Raw rows become model inputs once; every candidate scores the same arrays.
    eval_inputs = load(base_core).to_inputs(eval_df)
    validation_inputs = load(base_core).to_inputs(validation_df)
    base_scores = _score(base, load(base_core), eval_inputs, y_eval)
    base_validation_scores = load(base_core).predict_batched(validation_inputs)
    base_validation_auc = binary_metrics(y_validation, base_validation_scores)["auc"]
    base.total_bytes, base.gzip_bytes = measure.sizes([preprocess_tflite, base_core])
    base.serving = serving(load(base_core))
    log(_describe(base))

    def fine_tune_args() -> dict[str, Any]:
        return dict(
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            loss=loss(),
            seed=config.seed,
        )

    def prune(sparsity: float) -> Any:
        return optimize.prune(
            core,
            x_train,
            y_train,
            sparsity=sparsity,
            schedule=config.schedule,
            epochs=config.fine_tune_epochs,
            **fine_tune_args(),
        )

    step_started = time.monotonic()
    timing: dict[str, float] = {}

    def build(methods: list[str], sparsity: float, pruned: Any = None) -> Candidate:
        started = time.monotonic()
        model, keras_level = core, False
        if PRUNE in methods:
            model, keras_level = pruned or prune(sparsity), True
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
        name = "+".join(f"{m}{sparsity:g}" if m == PRUNE else m for m in methods) or FLOAT32
        cand = Candidate(name, list(methods), sparsity, tflite, model if keras_level else None)
        measure_started = time.monotonic()
        timing["fine_tune_s"] = measure_started - started
        scores = _score(cand, load(tflite), eval_inputs, y_eval)
        paired = budget.paired_drop(y_eval, base_scores, scores, alpha=config.budget_alpha)
        cand.accuracy_drop, cand.accuracy_drop_upper = paired.drop, paired.upper
        cand.accuracy_drop_p_value = paired.p_value
        cand.auc_drop = base.auc - cand.auc
        cand.agreement = float(np.mean((base_scores >= 0.5) == (scores >= 0.5)))
        # The verdict, and so auto's choice, comes from the validation rows only.
        validation_scores = load(tflite).predict_batched(validation_inputs)
        checked = budget.paired_drop(
            y_validation, base_validation_scores, validation_scores, alpha=config.budget_alpha
        )
        cand.validation_accuracy_drop_upper = checked.upper
        cand.validation_auc_drop = (
            base_validation_auc - binary_metrics(y_validation, validation_scores)["auc"]
        )
        cand.within_budget = (
            cand.validation_accuracy_drop_upper <= config.max_accuracy_drop + 1e-12
            and cand.validation_auc_drop <= config.max_auc_drop + 1e-12
        )
        cand.total_bytes, cand.gzip_bytes = measure.sizes([preprocess_tflite, tflite])
        # The float32 core is the base itself: one measurement, so no noise between them.
        cand.serving = base.serving if tflite == base_core else serving(load(tflite))
        timing["measure_s"] = time.monotonic() - measure_started
        return cand

    def timings(extra_fine_tune_s: float = 0.0) -> str:
        build_s = timing["fine_tune_s"] + extra_fine_tune_s
        return (
            f"(fine-tune and convert {progress.elapsed_text(build_s)}, "
            f"measure {progress.elapsed_text(timing['measure_s'])}; "
            f"{progress.elapsed_text(time.monotonic() - step_started)} into compression)"
        )

    candidates: list[Candidate] = []
    fallback = False
    if config.methods == [AUTO]:
        grid = config.auto_grid()
        pruned_by_sparsity: dict[float, Any] = {}
        for i, (methods, sparsity) in enumerate(grid, 1):
            pruning_started = time.monotonic()
            if sparsity > 0 and sparsity not in pruned_by_sparsity:
                pruned_by_sparsity[sparsity] = prune(sparsity)
            pruning_s = time.monotonic() - pruning_started
            cand = build(methods, sparsity, pruned_by_sparsity.get(sparsity))
            candidates.append(cand)
            log(f"candidate {i}/{len(grid)} {_describe(cand)} {timings(pruning_s)}")
        chosen, fallback = budget.choose(candidates, base, config.objective, config.noise_margin)
        selection = _selection(chosen, fallback, config.objective)
    else:
        sparsity = config.sparsity if PRUNE in config.methods else 0.0
        chosen = build(config.methods, sparsity)
        candidates.append(chosen)
        log(f"compressed {_describe(chosen)} {timings()}")
        verdict = "within" if chosen.within_budget else "OVER"
        selection = f"methods {'+'.join(config.methods)} as asked; {verdict} the quality budget"
    log(f"kept {chosen.name}: {selection}")

    manifest = _write_outputs(
        output_dir, chosen, preprocess, preprocess_tflite, inputs, metadata, config
    )
    core_model = chosen.keras_core if chosen.keras_core is not None else core
    figures = {
        **keys.TFLITE_SIZE.figures(base.total_bytes, chosen.total_bytes),
        keys.SIZE_RATIO: base.total_bytes / chosen.total_bytes,
        **keys.GZIP_SIZE.figures(base.gzip_bytes, chosen.gzip_bytes),
        keys.GZIP_SIZE_RATIO: base.gzip_bytes / chosen.gzip_bytes,
        keys.SPARSITY: optimize.weight_sparsity(core_model),
        **keys.EVAL_ACCURACY.figures(base.accuracy, chosen.accuracy),
        keys.ACCURACY_DROP: chosen.accuracy_drop,
        keys.ACCURACY_DROP_UPPER: chosen.accuracy_drop_upper,
        keys.ACCURACY_DROP_P_VALUE: chosen.accuracy_drop_p_value,
        **keys.EVAL_AUC.figures(base.auc, chosen.auc),
        keys.AUC_DROP: chosen.auc_drop,
        keys.PREDICTION_AGREEMENT: chosen.agreement,
        **_serving_figures(base, chosen, config),
        keys.CANDIDATES_TRIED: float(len(candidates)),
        keys.WITHIN_BUDGET: float(chosen.within_budget),
        keys.FALLBACK: float(fallback),
    }
    return CompressionOutcome(
        figures=figures,
        candidates=[c.row() for c in candidates],
        chosen=chosen.name,
        metadata={
            **manifest,
            "config": config.to_dict(),
            "selection": selection,
            "interpreter": "TFLite interpreter, default op resolver (XNNPACK delegate)",
        },
    )


def _selection(chosen: Candidate, fallback: bool, objective: str) -> str:
    """Why ``auto`` kept ``chosen``, in one sentence."""
    if fallback:
        return (
            f"fallback: no compressed candidate was within the quality budget and better "
            f"than the base on {objective} beyond measurement noise; the float32 model "
            f"ships (no compression)"
        )
    return (
        f"smallest of the best on {objective} among candidates within budget that beat "
        f"the base beyond measurement noise"
    )


def _describe(cand: Candidate) -> str:
    budget_verdict = (
        f"{'within' if cand.within_budget else 'over'} budget on validation rows (bound "
        f"{cand.validation_accuracy_drop_upper:+.4f}, auc drop {cand.validation_auc_drop:+.4f})"
    )
    s = cand.serving
    return (
        f"{cand.name}: {cand.total_bytes:,} B ({cand.gzip_bytes:,} B gzipped), accuracy "
        f"{cand.accuracy:.4f} (drop {cand.accuracy_drop:+.4f}, bound "
        f"{cand.accuracy_drop_upper:+.4f}), auc {cand.auc:.4f} (drop {cand.auc_drop:+.4f}), "
        f"{budget_verdict}; p50 {s['latency_p50_ms']:.4f} ms (batch "
        f"{s['batch_latency_p50_ms']:.4f} ms), {s['energy_kwh_per_1k']:.3e} kWh/1k "
        f"(batch {s['batch_energy_kwh_per_1k']:.3e})"
    )


def _score(
    cand: Candidate, model: CompressedModel, eval_inputs: dict[str, np.ndarray], y: np.ndarray
) -> Any:
    """Sets the candidate's accuracy and AUC; returns its eval scores."""
    scores = model.predict_batched(eval_inputs)
    quality = binary_metrics(y, scores)
    cand.accuracy, cand.auc = quality["accuracy"], quality["auc"]
    return scores


def _serving_figures(
    base: Candidate, chosen: Candidate, config: CompressionConfig
) -> dict[str, float]:
    """Latency and inference energy of both models at batch 1 and the serving batch."""
    b, c = base.serving, chosen.serving

    def ratio(key: str) -> float:
        return b[key] / max(c[key], 1e-18)

    return {
        keys.LATENCY_THREADS: float(config.threads),
        keys.SERVING_BATCH_SIZE: float(config.serving_batch_size),
        **keys.LATENCY_P50.figures(b["latency_p50_ms"], c["latency_p50_ms"]),
        **keys.LATENCY_P95.figures(b["latency_p95_ms"], c["latency_p95_ms"]),
        **keys.INFERENCE_ENERGY.figures(b["energy_kwh_per_1k"], c["energy_kwh_per_1k"]),
        **keys.BATCH_LATENCY_P50.figures(b["batch_latency_p50_ms"], c["batch_latency_p50_ms"]),
        **keys.BATCH_INFERENCE_ENERGY.figures(
            b["batch_energy_kwh_per_1k"], c["batch_energy_kwh_per_1k"]
        ),
        keys.LATENCY_SPEEDUP_P50: ratio("latency_p50_ms"),
        keys.BATCH_LATENCY_SPEEDUP_P50: ratio("batch_latency_p50_ms"),
        keys.INFERENCE_ENERGY_RATIO: ratio("energy_kwh_per_1k"),
        keys.BATCH_INFERENCE_ENERGY_RATIO: ratio("batch_energy_kwh_per_1k"),
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
