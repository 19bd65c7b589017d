"""`greenkfp run`: the validation pipeline end to end, and its failures."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import load_summary, run_cli

pytestmark = pytest.mark.slow


def test_run_on_embedded_data(tmp_path, monkeypatch):
    # A forecast file around now prices every step at its own hour (grid_intensity).
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    hours = [(now + timedelta(hours=h), v) for h, v in [(-2, 90.0), (-1, 300.0), (0, 200.0)]]
    hours += [(now + timedelta(hours=h), 250.0) for h in (1, 2)]
    forecast = tmp_path / "forecast.csv"
    forecast.write_text(
        "time,location,g_co2eq_per_kwh\n"
        + "".join(f"{t.isoformat()},us-central1,{v}\n" for t, v in hours)
    )
    monkeypatch.setenv("GREENKFP_GRID_LOCATION", "us-central1")
    monkeypatch.setenv("GREENKFP_CARBON_FORECAST", str(forecast))
    out = tmp_path / "demo"
    result = run_cli(
        "run", "--pipeline", "training_pipeline", "--output-dir", str(out), "--epochs", "8"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # One progress line per step start and end, not kfp.local's full logs.
    assert result.stdout.count("[6/6] Train model (energy-metered) (train-model) ok") == 1
    assert "Statistics: eval (report):" in result.stdout
    assert "Streamed logs" not in result.stdout
    summary = load_summary(out)
    assert summary["pipeline"] == "training-pipeline"
    assert summary["status"] == "succeeded"
    assert summary["output_dir"] == str(out.resolve())
    steps = summary["steps"]
    assert [s["status"] for s in steps] == ["succeeded"] * 6
    assert steps[1]["display_name"] == "Statistics: train"
    assert all(s["duration_s"] > 0 for s in steps)
    # Every step metered itself, with the same keys everywhere.
    for step in steps:
        assert step["energy_kwh"] > 0 and step["emissions_kg_co2eq"] > 0, step["name"]
        assert step["energy"]["energy_method"] and step["energy"]["country_iso_code"] == "USA"
        assert step["energy"]["duration_s"] > 0
        # The step's own share, its method and its bound; the node's figure beside it.
        energy = step["energy"]
        assert energy["method"] == energy["energy_method"]
        assert 0 < energy["low"] <= step["energy_kwh"] <= energy["high"], step["name"]
        assert step["energy_kwh"] <= energy["node_energy_kwh"]
        assert 0 < energy["memory_share"] < 1 and energy["kepler_status"].startswith("not config")
    assert summary["energy_kwh_total"] == pytest.approx(sum(s["energy_kwh"] for s in steps))
    low, high = summary["energy_kwh_total_low"], summary["energy_kwh_total_high"]
    assert low == pytest.approx(sum(s["energy"]["low"] for s in steps))
    assert high == pytest.approx(sum(s["energy"]["high"] for s in steps))
    assert 0 < low <= summary["energy_kwh_total"] <= high
    # Priced by the forecast: as run, at the annual average, at the best window (90 g/kWh).
    assert summary["steps_priced"] == 6
    assert summary["carbon_intensity_source"] == f"forecast file {forecast}"
    assert summary["emissions_kg_as_run"] == pytest.approx(summary["emissions_kg_co2eq_total"])
    annual = sum(s["energy"]["emissions_kg_co2eq_annual_average"] for s in steps)
    assert summary["emissions_kg_annual_average"] == pytest.approx(annual)
    assert summary["emissions_kg_best_window"] == pytest.approx(summary["energy_kwh_total"] * 0.09)
    assert summary["emissions_kg_best_window"] < summary["emissions_kg_as_run"]
    assert all(s["energy"]["carbon_intensity_note"] == "" for s in steps)
    training = steps[-1]["outputs"]
    assert training["metrics"]["metadata"]["auc"] > 0.65
    assert training["model"]["metadata"]["energy_method"] == steps[-1]["energy"]["energy_method"]
    for path in summary["reports"].values():
        assert Path(path).is_file() and str(out.resolve()) in path
    assert "train-model.report" in summary["reports"]
    assert "validate-data.summary" in summary["reports"]
    # Everything of the run stays under the output folder.
    executor_outputs = list((out / "pipeline_root").rglob("executor_output.json"))
    assert len(executor_outputs) == 6
    assert len(list((out / "pipeline_root").rglob("codecarbon/emissions.csv"))) == 6
    assert len(list((out / "pipeline_root").rglob("codecarbon/boamps_report_*.json"))) == 6
    assert "Running pipeline" in (out / "run.log").read_text()


def test_parameter_the_pipeline_lacks(tmp_path):
    result = run_cli(
        "run",
        "--pipeline",
        "data_validation_pipeline",
        "--epochs",
        "3",
        "--output-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    assert "has no parameter(s) ['epochs']" in result.stderr


def _assert_failed(result, out: Path, step: str, *needles: str) -> dict:
    assert result.returncode == 1, result.stdout + result.stderr
    summary = load_summary(out)
    assert summary["status"] == "failed"
    assert summary["failed_step"] == step
    for needle in needles:
        assert needle in summary["error"]
        assert needle in result.stderr
    return summary


def _assert_refused_up_front(result, out: Path, step: str, *needles: str) -> None:
    """The up-front check named the step that would fail, and nothing ran."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"greenkfp run: {step}: " in result.stderr and "before any step ran" in result.stderr
    for needle in needles:
        assert needle in result.stderr
    assert not out.exists()


def test_missing_label_column(tmp_path, german_credit, write_csv):
    data = write_csv(german_credit.drop(columns=["risk"]))
    out = tmp_path / "run"
    result = run_cli("run", "--data", data, "--label-column", "risk", "--output-dir", str(out))
    _assert_refused_up_front(result, out, "import-csv", "lacks required column(s) ['risk']")


def test_empty_file(tmp_path, write_csv):
    data = write_csv("")
    out = tmp_path / "run"
    result = run_cli("run", "--data", data, "--label-column", "y", "--output-dir", str(out))
    _assert_refused_up_front(result, out, "import-csv", "file is empty")


def test_required_parameter_missing(tmp_path, write_csv):
    result = run_cli("run", "--data", write_csv("y\n1\n"), "--output-dir", str(tmp_path))
    assert result.returncode == 2
    assert "needs --label-column" in result.stderr


def test_missing_file(tmp_path):
    result = run_cli("run", "--data", str(tmp_path / "nope.csv"), "--output-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--data file not found" in result.stderr and "nope.csv" in result.stderr


def test_non_numeric_value_in_numeric_column(tmp_path, german_credit, write_csv):
    train = write_csv(german_credit.iloc[:800], "train.csv")
    bad = german_credit.iloc[800:].astype({"credit_amount": str})
    bad.iloc[7, bad.columns.get_loc("credit_amount")] = "n/a-ish"
    evaluation = write_csv(bad, "eval.csv")
    out = tmp_path / "run"
    # One text cell in a numeric column: the import's reader refuses it up front ...
    options = ("--data", train, "--label-column", "risk", "--output-dir", str(out))
    one_cell = run_cli("run", "--eval-data", evaluation, *options)
    _assert_refused_up_front(one_cell, out, "import-csv", "column 'credit_amount'", "'n/a-ish'")
    # ... while a column of text where training had numbers reaches validation as a type
    # anomaly.
    bad["credit_amount"] = ["n/a-ish" if i % 3 else v for i, v in enumerate(bad["credit_amount"])]
    result = run_cli("run", "--eval-data", write_csv(bad, "eval.csv"), *options)
    summary = _assert_failed(
        result,
        out,
        "validate-data",
        "ValidationFailed",
        "credit_amount: Expected data of type: INT",
    )
    # The failing step still left its anomaly report for people to read.
    assert [s["status"] for s in summary["steps"]][-1] == "failed"
    anomalies = next((out / "pipeline_root").rglob("validate-data/summary")).read_text()
    assert "UNEXPECTED_DATA_TYPE" in anomalies


def test_unknown_pipeline(tmp_path):
    result = run_cli("run", "--pipeline", "nope", "--output-dir", str(tmp_path))
    assert result.returncode == 2 and "unknown pipeline 'nope'" in result.stderr
