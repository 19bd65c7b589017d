"""Each data validation wrapper through ``.python_func`` with stand-in artifacts."""

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from fake_prometheus import FakePrometheus, vector
from kfp import dsl
from stand_ins import StandIns

from greenkfp.components import generate_statistics, import_csv, infer_schema, validate_data
from greenkfp.components._shared import kepler
from greenkfp.components._shared.errors import ValidationFailed


def test_import_csv_alone(tmp_path, write_csv):
    source = write_csv("a , label\n1,yes\n2,no\n?,yes\n4,no\n5,yes\n")
    step = StandIns(tmp_path, "import")
    train_dataset = step.output(dsl.Dataset, "train_dataset")
    eval_dataset = step.output(dsl.Dataset, "eval_dataset")
    metrics = step.output(dsl.Metrics, "metrics")
    import_csv.python_func(
        data_uri=source,
        label_column="label",
        eval_fraction=0.4,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        metrics=metrics,
    )
    train = pd.read_csv(train_dataset.path)
    evaluation = pd.read_csv(eval_dataset.path)
    assert list(train.columns) == ["a", "label"]
    assert len(train) + len(evaluation) == 5
    counts = {k: metrics.metadata[k] for k in ("train_rows", "eval_rows", "columns")}
    assert counts == {"train_rows": 3.0, "eval_rows": 2.0, "columns": 2.0}
    assert metrics.metadata["energy_kwh"] > 0
    assert train_dataset.metadata["source_uri"] == source
    assert (train_dataset.metadata["rows"], eval_dataset.metadata["rows"]) == (3, 2)
    assert train_dataset.metadata["energy_method"]
    assert (step.step_dir / "codecarbon" / "emissions.csv").exists()


def test_import_csv_takes_encoding_and_mixed_numeric(tmp_path):
    source = tmp_path / "latin1.csv"
    rows = "".join(f"t\u00e9l\u00e9 {i},{i * 10},{i % 2}\n" for i in range(9))
    source.write_bytes(("name,amount,label\n" + rows + "radio,n/a,1\n").encode("latin-1"))
    step = StandIns(tmp_path, "import")
    outputs = {
        "train_dataset": step.output(dsl.Dataset, "train_dataset"),
        "eval_dataset": step.output(dsl.Dataset, "eval_dataset"),
        "metrics": step.output(dsl.Metrics, "metrics"),
    }
    with pytest.raises(ValueError, match="line 2, column 2"):
        import_csv.python_func(data_uri=str(source), label_column="label", **outputs)
    with pytest.raises(ValueError, match="column 'amount' is numeric in 9 of 10 rows"):
        import_csv.python_func(
            data_uri=str(source), label_column="label", encoding="latin-1", **outputs
        )
    import_csv.python_func(
        data_uri=str(source),
        label_column="label",
        encoding="latin-1",
        mixed_numeric="missing",
        **outputs,
    )
    both = pd.concat(pd.read_csv(outputs[n].path) for n in ("train_dataset", "eval_dataset"))
    assert "t\u00e9l\u00e9 3" in set(both["name"])
    assert both["amount"].isna().sum() == 1 and both["amount"].dtype.kind == "f"


def statistics_of(dataset, root: Path, name: str) -> SimpleNamespace:
    """Runs generate_statistics on ``dataset``; returns its outputs."""
    step = StandIns(root, name)
    out = SimpleNamespace(
        statistics=step.output(dsl.Artifact, "statistics"),
        report=step.output(dsl.HTML, "report"),
        metrics=step.output(dsl.Metrics, "metrics"),
    )
    generate_statistics.python_func(dataset=StandIns.passed_on(dataset), **vars(out))
    return out


def validation_of(train_stats, eval_stats, schema, root: Path, fail_on: str) -> SimpleNamespace:
    """Runs validate_data on eval against train, age's threshold raised; returns its outputs."""
    step = StandIns(root, f"validate-{fail_on}")
    out = SimpleNamespace(
        anomalies=step.output(dsl.Artifact, "anomalies"),
        summary=step.output(dsl.Markdown, "summary"),
        metrics=step.output(dsl.Metrics, "metrics"),
    )
    validate_data.python_func(
        statistics=StandIns.passed_on(eval_stats.statistics),
        schema=StandIns.passed_on(schema),
        baseline_statistics=StandIns.passed_on(train_stats.statistics),
        drift_thresholds={"age": 0.9},
        fail_on=fail_on,
        **vars(out),
    )
    return out


@pytest.mark.slow
def test_components_chained_detect_drift(tmp_path, german_credit, write_csv):
    train = write_csv(german_credit.iloc[:800], "train.csv")
    shifted = german_credit.iloc[800:].assign(
        credit_amount=lambda d: d["credit_amount"] * 3, age=lambda d: d["age"] + 30
    )
    evaluation = write_csv(shifted, "eval.csv")
    step = StandIns(tmp_path, "import")
    data = SimpleNamespace(
        train_dataset=step.output(dsl.Dataset, "train_dataset"),
        eval_dataset=step.output(dsl.Dataset, "eval_dataset"),
        metrics=step.output(dsl.Metrics, "metrics"),
    )
    import_csv.python_func(
        data_uri=train, eval_data_uri=evaluation, label_column="risk", **vars(data)
    )
    train_stats = statistics_of(data.train_dataset, tmp_path, "statistics-train")
    eval_stats = statistics_of(data.eval_dataset, tmp_path, "statistics-eval")

    stats_metrics = train_stats.metrics.metadata
    assert {k: stats_metrics[k] for k in ("rows", "columns", "missing_cells")} == {
        "rows": 800.0,
        "columns": 10.0,
        "missing_cells": 0.0,
    }
    assert stats_metrics["energy_kwh"] > 0 and train_stats.statistics.metadata["energy_method"]
    assert train_stats.statistics.metadata["rows"] == 800
    report = Path(train_stats.report.path).read_text()
    assert report.startswith("<!DOCTYPE html>") and "Energy and carbon of this step" in report

    schema_step = StandIns(tmp_path, "schema")
    schema = schema_step.output(dsl.Artifact, "schema")
    schema_metrics = schema_step.output(dsl.Metrics, "metrics")
    infer_schema.python_func(
        statistics=StandIns.passed_on(train_stats.statistics),
        schema=schema,
        metrics=schema_metrics,
        categorical_features=["job"],
        required_columns=["risk"],
    )
    assert "is_categorical: true" in Path(schema.path).read_text()
    assert schema_metrics.metadata["features"] == 10.0 and "risk" in schema.metadata["features"]

    validated = validation_of(train_stats, eval_stats, schema, tmp_path, fail_on="never")
    # age's override (0.9) keeps it quiet; credit_amount drifts.
    assert validated.anomalies.metadata["drifted_features"] == ["credit_amount"]
    assert validated.metrics.metadata["drifted_feature_count"] == 1.0
    markdown = Path(validated.summary.path).read_text()
    assert "| credit_amount |" in markdown and "**above threshold**" in markdown

    # fail_on="drift" fails the step, naming the feature, after writing every output.
    with pytest.raises(ValidationFailed, match=r"drift or skew .* \['credit_amount'\]"):
        validation_of(train_stats, eval_stats, schema, tmp_path, fail_on="drift")
    failed = StandIns(tmp_path, "validate-drift").step_dir
    assert "| credit_amount |" in (failed / "summary").read_text()
    assert (failed / "anomalies").exists() and (failed / "codecarbon" / "emissions.csv").exists()


@pytest.mark.parametrize("answer", [vector(36.0), b"{garbage"])
def test_a_component_records_the_cross_check_or_why_not(
    prometheus, tmp_path, monkeypatch, write_csv, answer
):
    FakePrometheus.answer = answer
    monkeypatch.setenv(kepler.PROMETHEUS_URL_ENV_VAR, prometheus)
    step = StandIns(tmp_path, "import")
    train, evaluation = step.output(dsl.Dataset, "train_dataset"), step.output(dsl.Dataset, "eval")
    metrics = step.output(dsl.Metrics, "metrics")
    import_csv.python_func(
        data_uri=write_csv("a,label\n1,yes\n2,no\n3,yes\n4,no\n"),
        label_column="label",
        eval_fraction=0.5,
        train_dataset=train,
        eval_dataset=evaluation,
        metrics=metrics,
    )
    assert metrics.metadata["train_rows"] == 2.0  # the step succeeded either way
    if isinstance(answer, dict):
        assert metrics.metadata["kepler_energy_kwh"] == pytest.approx(1e-5)
        assert train.metadata["kepler_status"] == kepler.STATUS_OK
    else:
        assert "kepler_energy_kwh" not in metrics.metadata
        assert train.metadata["kepler_status"] == "Prometheus answered something that is not JSON"
