"""KFP component for energy-metered training. A thin wrapper: the logic lives beside it."""

from typing import List, Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from greenkfp.components._shared.image import component_image

IMAGE = component_image()


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_model(
    train_dataset: Input[Dataset],
    eval_dataset: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    report: Output[HTML],
    label_column: str,
    positive_label: str = "1",
    schema: Optional[Input[Artifact]] = None,
    categorical_features: Optional[List[str]] = None,
    module_file: str = "",
    epochs: int = 0,
    batch_size: int = 0,
    learning_rate: float = 0.001,
    hidden_units: Optional[List[int]] = None,
    dropout: float = 0.1,
    early_stopping_patience: int = 5,
    seed: int = 42,
    country_iso_code: str = "",
    region: str = "",
    decision: Optional[Input[Artifact]] = None,
    validation_fraction: float = 0.1,
    max_validation_rows: int = 10000,
    deterministic: bool = True,
    max_training_minutes: float = 0.0,
    policy: str = "",
):
    """Trains a Keras 2 tabular classifier with energy and carbon metered.

    Preprocessing lives inside the model (normalization, string lookup), so the
    exported SavedModel takes raw feature values. Deterministic for a seed on CPU.
    Validation rows (early stopping, best epoch) are carved from the training data,
    seeded and stratified; the evaluation data gives the reported figures and nothing else.

    Args:
        train_dataset: Canonical CSV training data.
        eval_dataset: Canonical CSV evaluation data (reported metrics only).
        model: SavedModel (serving signature on raw features) and keras_model.keras.
        metrics: accuracy, auc, loss, precision, recall (on eval rows), param_count,
            model_bytes, epochs_run, best_epoch, max_epochs, batch_size, train_rows,
            validation_rows, eval_rows, train_seconds, stopped_by_time_budget (0/1), and
            energy_kwh, emissions_kg_co2eq, duration_s and the other energy figures.
        classification_metrics: Confusion matrix and ROC curve on eval data.
        report: Training curves, confusion matrix, ROC curve, energy and carbon.
        label_column: The label column.
        positive_label: Label value of the positive class ("1", "yes", ">50K", ...).
        schema: TFDV schema telling numeric from categorical features.
        categorical_features: Integer columns holding categories, when no schema is given.
        module_file: Path or gs:// URI of a Python file with
            build_model(feature_spec, hparams) -> tf_keras.Model; empty uses the built-in model.
        epochs: Maximum epochs; 0 chooses them from the training rows (30 up to
            20,000 rows, then fewer, at least 5).
        batch_size: Batch size; 0 chooses it from the training rows (32, doubled up to
            1,024 until an epoch has at most 200 steps).
        learning_rate: Adam learning rate.
        hidden_units: Dense layer sizes; default [64, 32].
        dropout: Dropout rate after each dense layer.
        early_stopping_patience: Epochs without validation-loss improvement before
            stopping; 0 never.
        seed: Random seed.
        country_iso_code: Grid country (ISO alpha-3) for carbon; empty uses
            GREENKFP_COUNTRY, then USA.
        region: Grid region within the country, optional.
        decision: decide_retraining's decision; when it says not to retrain, the step
            writes "skipped" outputs and returns at once. Not given: the step runs.
        validation_fraction: Share of the training rows carved out (seeded by seed,
            stratified by label) for early stopping and the best epoch, in (0, 0.5].
        max_validation_rows: Most validation rows; the rest of the training rows train.
        deterministic: TensorFlow op determinism (same seed, same weights); false lets
            some kernels, GPU ones above all, run faster.
        max_training_minutes: Training time budget; training stops after the epoch in
            which it runs out, best weights kept (stopped_by_time_budget=1). 0: none.
        policy: The pipeline's policy (YAML or JSON), the one the gate gets. Only its
            mitigation key is read here: with mitigation: reweigh, an unweighted
            reference is trained first (same seed and hyperparameters, energy-metered,
            saved under unweighted_reference/ in the model; its energy is
            mitigation_energy in the model metadata), then the model is trained with
            reweighing sample weights P(g)P(y)/P(g,y) over the intersection of the
            sensitive features the policy bounds by name. Empty: no reweighing.
    """
    from greenkfp.components._shared.skipping import finish_skipped

    if finish_skipped(decision, metrics, [model, report], country_iso_code, region):
        return
    from greenkfp.components._shared.binary_metrics import CONFUSION_CATEGORIES
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components.training import task
    from greenkfp.components.training.report import render_train_model

    hparams = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "hidden_units": hidden_units or [64, 32],
        "dropout": dropout,
        "early_stopping_patience": early_stopping_patience,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "max_validation_rows": max_validation_rows,
        "deterministic": deterministic,
        "max_training_minutes": max_training_minutes,
    }
    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = task.run_train_model(
            train_path=train_dataset.path,
            eval_path=eval_dataset.path,
            model_dir=model.path,
            label_column=label_column,
            positive_label=positive_label,
            hparams=hparams,
            schema_path=schema.path if schema else "",
            module_file=module_file,
            categorical_features=categorical_features or [],
            policy_text=policy,
            country_iso_code=country_iso_code,
            region=region,
        )
    with open(report.path, "w", encoding="utf-8") as f:
        f.write(render_train_model(outcome, energy.to_dict()))
    publish(metrics, energy, model, outcome.figures, outcome.metadata)
    classification_metrics.log_confusion_matrix(CONFUSION_CATEGORIES, outcome.confusion)
    classification_metrics.log_roc_curve(*outcome.roc)
