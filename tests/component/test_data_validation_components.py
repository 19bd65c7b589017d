"""Each data validation component, run through kfp.local as a user's pipeline would."""

import json
from pathlib import Path

import pandas as pd
import pytest
from kfp import dsl, local

from greenkfp.components import generate_statistics, import_csv, infer_schema, validate_data
from greenkfp.pipelines.runners.local import run_locally

pytestmark = pytest.mark.slow


def outputs_of(summary, step: str) -> dict:
    return next(s for s in summary.steps if s.name == step).outputs


def test_import_csv_alone(tmp_path, write_csv):
    source = write_csv("a , label\n1,yes\n2,no\n?,yes\n4,no\n5,yes\n")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    task = import_csv(data_uri=source, label_column="label", eval_fraction=0.4)
    train = pd.read_csv(task.outputs["train_dataset"].path)
    evaluation = pd.read_csv(task.outputs["eval_dataset"].path)
    assert list(train.columns) == ["a", "label"]
    assert len(train) + len(evaluation) == 5
    counts = {
        k: task.outputs["metrics"].metadata[k] for k in ("train_rows", "eval_rows", "columns")
    }
    assert counts == {"train_rows": 3.0, "eval_rows": 2.0, "columns": 2.0}
    assert task.outputs["metrics"].metadata["energy_kwh"] > 0
    assert task.outputs["train_dataset"].metadata["source_uri"] == source


@dsl.pipeline(name="validation-components-test")
def chained(data_uri: str, eval_data_uri: str, fail_on: str):
    data = import_csv(data_uri=data_uri, eval_data_uri=eval_data_uri, label_column="risk")
    train_stats = generate_statistics(dataset=data.outputs["train_dataset"])
    eval_stats = generate_statistics(dataset=data.outputs["eval_dataset"])
    schema = infer_schema(
        statistics=train_stats.outputs["statistics"],
        categorical_features=["job"],
        required_columns=["risk"],
    )
    validate_data(
        statistics=eval_stats.outputs["statistics"],
        schema=schema.outputs["schema"],
        baseline_statistics=train_stats.outputs["statistics"],
        drift_thresholds={"age": 0.9},
        fail_on=fail_on,
    )


def test_components_chained_detect_drift(tmp_path, german_credit, write_csv):
    train = write_csv(german_credit.iloc[:800], "train.csv")
    shifted = german_credit.iloc[800:].assign(
        credit_amount=lambda d: d["credit_amount"] * 3, age=lambda d: d["age"] + 30
    )
    evaluation = write_csv(shifted, "eval.csv")
    summary = run_locally(
        chained,
        {"data_uri": train, "eval_data_uri": evaluation, "fail_on": "never"},
        tmp_path / "run",
        progress=lambda line: None,
    )
    assert summary.status == "succeeded", summary.error
    assert [s.name for s in summary.steps] == [
        "import-csv",
        "generate-statistics",
        "generate-statistics-2",
        "infer-schema",
        "validate-data",
    ]
    stats = outputs_of(summary, "generate-statistics")
    stats_metrics = stats["metrics"]["metadata"]
    assert {k: stats_metrics[k] for k in ("rows", "columns", "missing_cells")} == {
        "rows": 800.0,
        "columns": 10.0,
        "missing_cells": 0.0,
    }
    assert stats_metrics["energy_kwh"] > 0 and stats["statistics"]["metadata"]["energy_method"]
    assert stats["statistics"]["metadata"]["rows"] == 800
    assert Path(stats["report"]["uri"]).read_text().startswith("<!DOCTYPE html>")
    schema = outputs_of(summary, "infer-schema")["schema"]
    assert "is_categorical: true" in Path(schema["uri"]).read_text()
    validated = outputs_of(summary, "validate-data")
    # age's override (0.9) keeps it quiet; credit_amount drifts.
    assert validated["anomalies"]["metadata"]["drifted_features"] == ["credit_amount"]
    assert validated["metrics"]["metadata"]["drifted_feature_count"] == 1.0
    markdown = Path(validated["summary"]["uri"]).read_text()
    assert "| credit_amount |" in markdown and "**above threshold**" in markdown
    saved = json.loads((tmp_path / "run" / "run_summary.json").read_text())
    assert saved["status"] == "succeeded" and len(saved["steps"]) == 5
