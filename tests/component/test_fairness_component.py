"""evaluate_fairness through kfp.local, fed by import_csv and train_model."""

import json
from pathlib import Path

import pytest
from kfp import dsl

from greenkfp.components import evaluate_fairness, import_csv, train_model
from greenkfp.pipelines.runners.local import run_locally

pytestmark = pytest.mark.slow


@dsl.pipeline(name="evaluate-fairness-test")
def train_and_evaluate_fairness(data_uri: str, sensitive_features: list):
    data = import_csv(data_uri=data_uri, label_column="risk")
    trained = train_model(
        train_dataset=data.outputs["train_dataset"],
        eval_dataset=data.outputs["eval_dataset"],
        label_column="risk",
        categorical_features=["job"],
        epochs=3,
        hidden_units=[8],
    )
    evaluate_fairness(
        model=trained.outputs["model"],
        baseline_model=trained.outputs["model"],
        eval_dataset=data.outputs["eval_dataset"],
        label_column="risk",
        sensitive_features=sensitive_features,
        feature_buckets={"age": [25, 40, 60]},
        feature_crosses=[["sex", "age"]],
        min_slice_size=20,
        country_iso_code="DEU",
    )


def test_evaluate_fairness_outputs(tmp_path):
    from helpers import EMBEDDED_DATA

    arguments = {"data_uri": str(EMBEDDED_DATA), "sensitive_features": ["sex", "age"]}
    summary = run_locally(
        train_and_evaluate_fairness, arguments, tmp_path / "run", progress=lambda line: None
    )
    assert summary.status == "succeeded", summary.error
    step = summary.steps[-1]
    assert step.name == "evaluate-fairness"
    metrics = step.outputs["metrics"]["metadata"]
    for key in ["auc", "accuracy", "precision", "recall", "max_fairness_gap"]:
        assert 0 <= metrics[key] <= 1, key
    assert metrics["example_count"] == 200
    for feature in ["sex", "age", "sex_x_age"]:
        for metric in [
            "false_positive_rate",
            "false_negative_rate",
            "positive_rate",
            "true_positive_rate",
        ]:
            gap = f"{metric}_gap_{feature}@0.5"
            assert 0 <= metrics[gap] <= 1 and 0 <= metrics[f"{metric}_ratio_{feature}@0.5"] <= 1
            # The baseline is the same model: same figures, zero change.
            assert metrics[f"baseline_{gap}"] == metrics[gap] and metrics[f"delta_{gap}"] == 0
    assert metrics["delta_auc"] == 0 and metrics["baseline_example_count"] == 200
    assert metrics["energy_kwh"] > 0 and metrics["duration_s"] > 0

    tfma_output = step.outputs["tfma_output"]
    folder = Path(tfma_output["uri"])
    assert tfma_output["metadata"]["country_iso_code"] == "DEU"
    assert tfma_output["metadata"]["candidate_eval_result"] == "candidate"
    for name in ["candidate", "baseline"]:
        assert (folder / name / "eval_config.json").exists()
    data = json.loads((folder / "fairness.json").read_text())
    assert data["metrics"]["max_fairness_gap"] == metrics["max_fairness_gap"]
    assert "sex=female, age=>=60" in data["excluded"]  # a handful of rows in 200

    matrix = step.outputs["classification_metrics"]["metadata"]["confusionMatrix"]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 200
    report = Path(step.outputs["report"]["uri"]).read_text()
    assert "Fairness gaps" in report and "Baseline comparison" in report and "<svg" in report
    assert step.energy_kwh == metrics["energy_kwh"]
    assert (folder.parent / "codecarbon" / "emissions.csv").exists()
