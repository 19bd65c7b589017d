"""evaluate_fairness through ``.python_func``, on the session's imported data and trained model."""

import json
from pathlib import Path

import pytest
from kfp import dsl
from stand_ins import StandIns

from greenkfp.components import evaluate_fairness

pytestmark = pytest.mark.slow

RATES = ["false_positive_rate", "false_negative_rate", "positive_rate", "true_positive_rate"]


def test_evaluate_fairness_outputs(tmp_path, imported, trained):
    step = StandIns(tmp_path, "evaluate-fairness")
    metrics = step.output(dsl.Metrics, "metrics")
    classification = step.output(dsl.ClassificationMetrics, "classification_metrics")
    tfma_output = step.output(dsl.Artifact, "tfma_output")
    report = step.output(dsl.HTML, "report")
    evaluate_fairness.python_func(
        model=StandIns.passed_on(trained.model),
        baseline_model=StandIns.passed_on(trained.model),
        eval_dataset=StandIns.passed_on(imported.eval_dataset),
        metrics=metrics,
        classification_metrics=classification,
        tfma_output=tfma_output,
        report=report,
        label_column="risk",
        sensitive_features=["sex", "age"],
        feature_buckets={"age": [25, 40, 60]},
        feature_crosses=[["sex", "age"]],
        min_slice_size=20,
        country_iso_code="DEU",
    )

    m = metrics.metadata
    for key in ["auc", "accuracy", "precision", "recall", "max_fairness_gap"]:
        assert 0 <= m[key] <= 1, key
    assert m["example_count"] == 200
    for feature in ["sex", "age", "sex_x_age"]:
        for metric in RATES:
            gap = f"{metric}_gap_{feature}@0.5"
            assert 0 <= m[gap] <= 1 and 0 <= m[f"{metric}_ratio_{feature}@0.5"] <= 1
            # The baseline is the same model: same figures, zero change.
            assert m[f"baseline_{gap}"] == m[gap] and m[f"delta_{gap}"] == 0
    assert m["delta_auc"] == 0 and m["baseline_example_count"] == 200
    assert m["energy_kwh"] > 0 and m["duration_s"] > 0

    folder = Path(tfma_output.path)
    assert tfma_output.metadata["country_iso_code"] == "DEU"
    assert tfma_output.metadata["candidate_eval_result"] == "candidate"
    assert tfma_output.metadata["energy_method"]
    for name in ["candidate", "baseline"]:
        assert (folder / name / "eval_config.json").exists()
    data = json.loads((folder / "fairness.json").read_text())
    assert data["metrics"]["max_fairness_gap"] == m["max_fairness_gap"]
    assert "sex=female, age=>=60" in data["excluded"]  # a handful of rows in 200

    matrix = classification.metadata["confusionMatrix"]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 200
    page = Path(report.path).read_text()
    assert "Fairness gaps" in page and "Baseline comparison" in page and "<svg" in page
    assert (step.step_dir / "codecarbon" / "emissions.csv").exists()
