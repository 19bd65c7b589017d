"""What the ``train_model`` component does, as plain functions over files."""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared import reweighing
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_artifact import load_metadata, write_metadata


@dataclass
class TrainingOutcome:
    """Figures and facts of a finished training, for the component's outputs.

    Attributes:
        figures: Eval quality, model size, epochs, batch size, row counts (train,
            validation, eval) and ``stopped_by_time_budget`` (0/1), for the step's Metrics.
        history: Per-epoch Keras metrics (``loss``, ``val_loss``, ``auc``, ...).
        confusion: ``[[TN, FP], [FN, TP]]`` on eval data at threshold 0.5.
        roc: ``(fpr, tpr, thresholds)`` on eval data.
        metadata: Facts about the model, for the model artifact.
    """

    figures: dict[str, float]
    history: dict[str, list[float]]
    confusion: list[list[int]]
    roc: tuple[list[float], list[float], list[float]]
    metadata: dict[str, Any] = field(default_factory=dict)


def feature_spec_from_schema(schema_path: str, label_column: str) -> Any:
    """Builds the feature spec from a TFDV schema: strings and categorical ints are categories."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    from greenkfp.components._shared.tfdv_schema import load_schema
    from greenkfp.components.training.model import FeatureSpec

    schema = load_schema(schema_path)
    names = [f.name for f in schema.feature]
    if label_column not in names:
        raise InputError(f"label column {label_column!r} is not in the schema; it has {names}")
    numeric, categorical = [], []
    for feature in schema.feature:
        if feature.name == label_column:
            continue
        is_category = feature.type == schema_pb2.BYTES or (
            feature.HasField("int_domain") and feature.int_domain.is_categorical
        )
        (categorical if is_category else numeric).append(feature.name)
    return FeatureSpec(numeric=numeric, categorical=categorical, label=label_column)


def _local_module_file(module_file: str, workdir: str) -> Optional[str]:
    if not module_file:
        return None
    if uri_io.is_local(module_file):
        return module_file
    local = os.path.join(workdir, os.path.basename(module_file))
    with open(local, "wb") as f:
        f.write(uri_io.read_bytes(module_file))
    return local


def reweigh_features(policy_text: str, columns: list[str]) -> list[str]:
    """The features to reweigh by: none unless the policy says ``mitigation: reweigh``.

    Raises:
        InputError: A bad policy, or ``reweigh`` without named sensitive features.
    """
    from greenkfp.components._shared.policy import parse_policy

    if not policy_text.strip():
        return []
    policy = parse_policy(policy_text)
    if policy.mitigation != "reweigh":
        return []
    return reweighing.policy_features(policy, columns)


def _train_reference(
    fit: Callable[..., Any],
    reference_dir: str,
    country_iso_code: str,
    region: str,
) -> dict[str, Any]:
    """Trains (``fit()``, unweighted) and saves the reference, energy-metered; its metadata."""
    from greenkfp.components._shared.metering import metered_step
    from greenkfp.components.training.export import save_model

    with metered_step(reference_dir, country_iso_code, region) as energy:
        result = fit()
    save_model(result, reference_dir)
    return {
        reweighing.REFERENCE_ENERGY_KEY: energy.to_dict(),
        "reweighing": {
            "reference": reweighing.REFERENCE_DIRNAME,
            "reference_eval_metrics": {k: float(v) for k, v in result.eval_metrics.items()},
            "reference_train_seconds": float(result.train_seconds),
        },
    }


def run_train_model(
    *,
    train_path: str,
    eval_path: str,
    model_dir: str,
    label_column: str,
    positive_label: str = "1",
    hparams: dict[str, Any],
    schema_path: str = "",
    module_file: str = "",
    categorical_features: Sequence[str] = (),
    policy_text: str = "",
    country_iso_code: str = "",
    region: str = "",
) -> TrainingOutcome:
    """Trains on canonical train/eval datasets and exports the model to ``model_dir``.

    Args:
        train_path: Training dataset.
        eval_path: Evaluation dataset, for the reported metrics only (early stopping uses
            validation rows carved from the training data).
        model_dir: Receives ``saved_model/``, ``keras_model.keras`` and metadata.
        label_column: The label column.
        positive_label: The positive class (``"1"``, ``"yes"``, ``">50K"``, ...).
        hparams: Hyperparameters (see ``model.Hyperparameters``).
        schema_path: A TFDV schema telling numeric from categorical features; without
            it, dtypes decide and ``categorical_features`` names integer categories.
        module_file: Path or URI of a file defining ``build_model(feature_spec, hparams)``.
        categorical_features: Integer columns holding categories (without a schema).
        policy_text: The pipeline's policy (YAML or JSON). With ``mitigation: reweigh``,
            the model is trained twice, same seed and hyperparameters: unweighted, saved
            as the reference under ``unweighted_reference/`` (energy-metered; its reading
            is the mitigation's cost, ``mitigation_energy`` in the model metadata), then
            with reweighing sample weights over the features the policy names: the model.
        country_iso_code: Grid country for the reference training's energy reading.
        region: Grid region, optional.

    Returns:
        Figures, history, confusion matrix, ROC curve and model facts.

    Raises:
        InputError: Empty data, a label column or positive label not in the data, a schema
            without the label, or a module file that cannot be loaded or builds no model.
    """
    from greenkfp.components._shared import binary_metrics
    from greenkfp.components.training import trainer
    from greenkfp.components.training.export import save_model
    from greenkfp.components.training.model import infer_feature_spec

    train_df = uri_io.read_dataset(train_path)
    eval_df = uri_io.read_dataset(eval_path)
    if schema_path:
        spec = feature_spec_from_schema(schema_path, label_column)
    else:
        spec = infer_feature_spec(train_df, label_column, categorical=list(categorical_features))
    features = reweigh_features(policy_text, list(train_df.columns))
    reference: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as workdir:
        local_module = _local_module_file(module_file, workdir)
        fit = functools.partial(
            trainer.train,
            train_df,
            eval_df,
            label_column,
            positive_label,
            hparams,
            feature_spec=spec,
            module_file=local_module,
        )
        if features:
            reference = _train_reference(
                fit,
                os.path.join(model_dir, reweighing.REFERENCE_DIRNAME),
                country_iso_code,
                region,
            )
            reference["reweighing"]["features"] = features
        result = fit(reweigh_features=features)
    export = save_model(result, model_dir)
    if reference:
        write_metadata(model_dir, {**load_metadata(model_dir), **reference})
    labels, scores = result.eval_labels, result.eval_scores
    figures = {
        **{k: float(v) for k, v in result.eval_metrics.items()},
        **binary_metrics.classification_summary(labels, scores),
        "param_count": float(result.param_count),
        "model_bytes": float(export.saved_model_bytes),
        "keras_model_bytes": float(export.keras_model_bytes),
        "epochs_run": float(result.epochs_run),
        "best_epoch": float(result.best_epoch),
        "max_epochs": float(result.hparams.epochs),
        "batch_size": float(result.hparams.batch_size),
        "train_rows": float(result.n_train),
        "validation_rows": float(result.n_validation),
        "eval_rows": float(result.n_eval),
        "train_seconds": float(result.train_seconds),
        "stopped_by_time_budget": float(result.stopped_by_time_budget),
    }
    metadata = {
        "framework": "tf_keras (Keras 2)",
        "saved_model": os.path.relpath(export.saved_model_dir, model_dir),
        "keras_model": os.path.relpath(export.keras_model_path, model_dir),
        "label_column": label_column,
        "positive_label": str(result.positive_label),
        "numeric_features": spec.numeric,
        "categorical_features": spec.categorical,
        "module_file": module_file or "",
        "param_count": int(result.param_count),
        "rows": (
            f"{result.n_train} train (fit), {result.n_validation} validation (carved from the "
            f"training data: early stopping, best epoch), {result.n_eval} eval (reported "
            "figures only)"
        ),
        "batch_size": int(result.hparams.batch_size),
        "max_epochs": int(result.hparams.epochs),
        "deterministic": bool(result.hparams.deterministic),
        "stopped_by_time_budget": bool(result.stopped_by_time_budget),
        **reference,
    }
    if reference:
        figures["reweighed"] = 1.0
        figures["reference_accuracy"] = reference["reweighing"]["reference_eval_metrics"][
            "accuracy"
        ]
        figures["reference_auc"] = reference["reweighing"]["reference_eval_metrics"]["auc"]
    return TrainingOutcome(
        figures=figures,
        history=result.history,
        confusion=binary_metrics.confusion_matrix(labels, scores),
        roc=binary_metrics.roc_curve(labels, scores),
        metadata=metadata,
    )
