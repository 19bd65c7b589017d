"""train_model through ``.python_func`` with stand-in artifacts, fed by import_csv."""

from pathlib import Path

import pytest
from kfp import dsl
from stand_ins import StandIns

from greenkfp.components import train_model
from greenkfp.components._shared.errors import InputError

pytestmark = pytest.mark.slow


def test_train_model_outputs(trained):
    metrics = trained.metrics.metadata
    for key in ["energy_kwh", "emissions_kg_co2eq", "duration_s", "auc", "accuracy"]:
        assert metrics[key] > 0, key
    assert metrics["model_bytes"] > 10_000 and metrics["param_count"] > 1000
    assert metrics["auc"] > 0.65  # measured 0.79 at 4 epochs
    assert all(isinstance(v, float) for v in metrics.values())
    # Which rows did what: 800 training rows give 720 to fit and 80 to validation; the
    # 200 eval rows give the reported figures (the confusion matrix below sums to 200).
    assert (metrics["train_rows"], metrics["validation_rows"], metrics["eval_rows"]) == (
        720.0,
        80.0,
        200.0,
    )
    assert (metrics["max_epochs"], metrics["batch_size"]) == (4.0, 32.0)  # batch: auto
    assert metrics["stopped_by_time_budget"] == 0.0
    model = trained.model.metadata
    assert model["energy_method"] and model["country_iso_code"] == "DEU"
    assert model["label_column"] == "risk" and "job" in model["categorical_features"]
    model_dir = Path(trained.model.path)
    assert (model_dir / "saved_model" / "saved_model.pb").exists()
    assert (model_dir / "keras_model.keras").exists()
    matrix = trained.classification_metrics.metadata["confusionMatrix"]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 200
    assert trained.classification_metrics.metadata["confidenceMetrics"]
    report = Path(trained.report.path).read_text()
    assert "Training curves" in report and "Energy and carbon" in report
    assert (model_dir.parent / "codecarbon" / "emissions.csv").exists()


def test_absent_positive_label_fails_clearly(tmp_path, imported):
    step = StandIns(tmp_path, "train")
    with pytest.raises(InputError) as failure:
        train_model.python_func(
            train_dataset=StandIns.passed_on(imported.train_dataset),
            eval_dataset=StandIns.passed_on(imported.eval_dataset),
            model=step.output(dsl.Model, "model"),
            metrics=step.output(dsl.Metrics, "metrics"),
            classification_metrics=step.output(dsl.ClassificationMetrics, "classification"),
            report=step.output(dsl.HTML, "report"),
            label_column="risk",
            positive_label="yes",
            epochs=1,
        )
    assert "positive label 'yes' does not occur in label column 'risk'" in str(failure.value)


def test_time_budget_is_an_input_and_is_reported(tmp_path, imported, capsys):
    step = StandIns(tmp_path, "train")
    metrics = step.output(dsl.Metrics, "metrics")
    model = step.output(dsl.Model, "model")
    train_model.python_func(
        train_dataset=StandIns.passed_on(imported.train_dataset),
        eval_dataset=StandIns.passed_on(imported.eval_dataset),
        model=model,
        metrics=metrics,
        classification_metrics=step.output(dsl.ClassificationMetrics, "classification"),
        report=step.output(dsl.HTML, "report"),
        label_column="risk",
        epochs=3,
        max_training_minutes=1e-8,  # runs out in the first epoch
        deterministic=False,
    )
    assert metrics.metadata["stopped_by_time_budget"] == 1.0
    assert metrics.metadata["epochs_run"] == 1.0
    assert model.metadata["stopped_by_time_budget"] is True
    assert "stopped by its time budget" in capsys.readouterr().out


def test_policy_reweigh_trains_the_reference_and_the_reweighed_model(tmp_path, imported):
    from greenkfp.components._shared.model_artifact import load_metadata
    from greenkfp.components._shared.predictor import predict_scores
    from greenkfp.components._shared.reweighing import REFERENCE_DIRNAME

    step = StandIns(tmp_path, "train")
    metrics = step.output(dsl.Metrics, "metrics")
    model = step.output(dsl.Model, "model")
    train_model.python_func(
        train_dataset=StandIns.passed_on(imported.train_dataset),
        eval_dataset=StandIns.passed_on(imported.eval_dataset),
        model=model,
        metrics=metrics,
        classification_metrics=step.output(dsl.ClassificationMetrics, "classification"),
        report=step.output(dsl.HTML, "report"),
        label_column="risk",
        categorical_features=["job"],
        epochs=3,
        country_iso_code="DEU",
        policy="max_fairness_gap:\n  false_negative_rate: {sex: 0.1}\nmitigation: reweigh\n",
    )
    reference = Path(model.path) / REFERENCE_DIRNAME
    assert (reference / "saved_model").is_dir()
    assert metrics.metadata["reweighed"] == 1.0
    meta = load_metadata(model.path)
    assert meta["reweighing"]["features"] == ["sex"]
    assert 0 < meta["mitigation_energy"]["energy_kwh"] <= metrics.metadata["energy_kwh"]
    assert model.metadata["reweighing"]["reference"] == REFERENCE_DIRNAME
    # Same seed and hyperparameters, different weights: the two models score differently.
    import pandas as pd

    rows = pd.read_csv(imported.eval_dataset.path).head(50)
    assert abs(predict_scores(model.path, rows) - predict_scores(str(reference), rows)).max() > 1e-4


def test_reweigh_without_named_features_fails_clearly(tmp_path, imported):
    step = StandIns(tmp_path, "train")
    with pytest.raises(InputError, match="name the sensitive features"):
        train_model.python_func(
            train_dataset=StandIns.passed_on(imported.train_dataset),
            eval_dataset=StandIns.passed_on(imported.eval_dataset),
            model=step.output(dsl.Model, "model"),
            metrics=step.output(dsl.Metrics, "metrics"),
            classification_metrics=step.output(dsl.ClassificationMetrics, "classification"),
            report=step.output(dsl.HTML, "report"),
            label_column="risk",
            epochs=1,
            policy="max_fairness_gap: 0.1\nmitigation: reweigh\n",
        )
