"""train_model through kfp.local, fed by import_csv."""

from pathlib import Path

import pytest
from kfp import dsl

from greenkfp.components import import_csv, train_model
from greenkfp.pipelines.runners.local import run_locally

pytestmark = pytest.mark.slow


@dsl.pipeline(name="train-model-test")
def import_and_train(data_uri: str, positive_label: str, epochs: int):
    data = import_csv(data_uri=data_uri, label_column="risk")
    train_model(
        train_dataset=data.outputs["train_dataset"],
        eval_dataset=data.outputs["eval_dataset"],
        label_column="risk",
        positive_label=positive_label,
        categorical_features=["job"],
        epochs=epochs,
        country_iso_code="DEU",
    )


def run_import_and_train(tmp_path, positive_label: str, epochs: int):
    from helpers import EMBEDDED_DATA

    arguments = {"data_uri": str(EMBEDDED_DATA), "positive_label": positive_label, "epochs": epochs}
    return run_locally(import_and_train, arguments, tmp_path / "run", progress=lambda line: None)


def test_train_model_outputs(tmp_path):
    summary = run_import_and_train(tmp_path, "1", epochs=6)
    assert summary.status == "succeeded", summary.error
    step = summary.steps[-1]
    metrics = step.outputs["metrics"]["metadata"]
    for key in ["energy_kwh", "emissions_kg_co2eq", "duration_s", "auc", "accuracy"]:
        assert metrics[key] > 0, key
    assert metrics["model_bytes"] > 10_000 and metrics["param_count"] > 1000
    assert metrics["auc"] > 0.65  # measured about 0.8 at 6 epochs
    model = step.outputs["model"]
    assert model["metadata"]["energy_method"] and model["metadata"]["country_iso_code"] == "DEU"
    model_dir = Path(model["uri"])
    assert (model_dir / "saved_model" / "saved_model.pb").exists()
    assert (model_dir / "keras_model.keras").exists()
    matrix = step.outputs["classification_metrics"]["metadata"]["confusionMatrix"]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 200
    report = Path(step.outputs["report"]["uri"]).read_text()
    assert "Training curves" in report and "Energy and carbon" in report
    assert (model_dir.parent / "codecarbon" / "emissions.csv").exists()
    assert step.energy_kwh == metrics["energy_kwh"] and summary.energy_kwh_total > step.energy_kwh


def test_absent_positive_label_fails_clearly(tmp_path):
    summary = run_import_and_train(tmp_path, "yes", epochs=1)
    assert summary.status == "failed" and summary.failed_step == "train-model"
    assert "positive label 'yes' does not occur in label column 'risk'" in summary.error
