"""sustainability_report through ``.python_func``, fed by stand-in Metrics and a real gate."""

from pathlib import Path

import pytest
from helpers import energy_figures
from kfp import dsl
from stand_ins import StandIns

from greenkfp.components import evaluate_gate, sustainability_report

TRAINING = {**energy_figures(3e-4), "auc": 0.8, "accuracy": 0.75, "model_bytes": 40000.0}
COMPRESSION = {
    **energy_figures(4e-4),
    "base_bytes": 40000.0,
    "compressed_bytes": 10000.0,
    "base_accuracy": 0.75,
    "compressed_accuracy": 0.74,
    "base_inference_energy_kwh_per_1k": 2e-6,
    "compressed_inference_energy_kwh_per_1k": 1e-6,
    "size_ratio": 4.0,
    "latency_speedup_p50": 1.5,
}
FAIRNESS = {
    **energy_figures(5e-5),
    "auc": 0.8,
    "accuracy": 0.75,
    "false_positive_rate_gap_sex@0.5": 0.05,
    "max_fairness_gap": 0.05,
}
POLICY = "min_auc: 0.6\nmax_fairness_gap: {false_positive_rate: {sex: 0.1}}\n"


def test_sustainability_report_outputs(tmp_path):
    upstream = {
        f"{name}_metrics": StandIns.input(dsl.Metrics, tmp_path / name / "metrics", values)
        for name, values in [
            ("training", TRAINING),
            ("compression", COMPRESSION),
            ("fairness", FAIRNESS),
        ]
    }
    gate_step = StandIns(tmp_path, "evaluate-gate")
    blessing = gate_step.output(dsl.Artifact, "blessing")
    gate_metrics = gate_step.output(dsl.Metrics, "metrics")
    evaluate_gate.python_func(
        blessing=blessing,
        summary=gate_step.output(dsl.Markdown, "summary"),
        metrics=gate_metrics,
        policy=POLICY,
        **upstream,
    )

    step = StandIns(tmp_path, "sustainability-report")
    report = step.output(dsl.HTML, "report")
    summary = step.output(dsl.Markdown, "summary")
    metrics = step.output(dsl.Metrics, "metrics")
    sustainability_report.python_func(
        report=report,
        summary=summary,
        metrics=metrics,
        gate_metrics=StandIns.passed_on(gate_metrics),
        blessing=StandIns.passed_on(blessing),
        **upstream,
    )

    gate_energy = gate_metrics.metadata["energy_kwh"]
    m = metrics.metadata
    assert m["energy_kwh_total"] == pytest.approx(3e-4 + 4e-4 + 5e-5 + gate_energy)
    assert m["approved"] == 1.0
    assert m["size_ratio"] == 4.0 and m["worst_fairness_gap"] == 0.05
    assert m["sci_g_co2eq_per_1k_predictions"] == pytest.approx(1e-6 * 400.0)
    assert m["energy_kwh"] >= 0  # its own reading, beside the totals
    assert "deployed" not in m
    record = report.metadata["sustainability"]
    assert record["gate"]["approved"] is True
    assert {c["name"] for c in record["gate"]["checks"]} >= {"min_auc"}
    assert record["metrics"] == {k: m[k] for k in record["metrics"]}
    assert summary.metadata["sustainability"] == record
    assert report.metadata["energy_method"]
    page = Path(report.path).read_text()
    assert "Deployment gate" in page and "APPROVED" in page
    assert "not run" in page  # deploy_model and the data steps were not wired in
    assert Path(summary.path).read_text().startswith("# Sustainability summary")
    assert (step.step_dir / "codecarbon" / "emissions.csv").exists()


def test_a_configured_provider_prices_the_step_and_the_report_shows_all_three(
    tmp_path, monkeypatch
):
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc).replace(microsecond=0)
    forecast = tmp_path / "forecast.csv"
    forecast.write_text(
        "time,location,g_co2eq_per_kwh\n"
        + "".join(
            f"{(now + timedelta(hours=h)).isoformat()},europe-west4,{v}\n"
            for h, v in [(-2, 300.0), (-1, 50.0), (0, 120.0), (1, 240.0)]
        )
    )
    monkeypatch.setenv("GREENKFP_GRID_LOCATION", "europe-west4")
    monkeypatch.setenv("GREENKFP_CARBON_FORECAST", str(forecast))
    priced = {
        **TRAINING,
        "emissions_kg_co2eq": 3e-4 * 0.1,
        "emissions_kg_co2eq_annual_average": 3e-4 * 0.4,
        "emissions_kg_co2eq_best_window": 3e-4 * 0.05,
    }
    step = StandIns(tmp_path, "sustainability-report")
    report, metrics = step.output(dsl.HTML, "report"), step.output(dsl.Metrics, "metrics")
    sustainability_report.python_func(
        report=report,
        summary=step.output(dsl.Markdown, "summary"),
        metrics=metrics,
        training_metrics=StandIns.input(dsl.Metrics, tmp_path / "training" / "metrics", priced),
        compression_metrics=StandIns.input(
            dsl.Metrics, tmp_path / "compression" / "metrics", COMPRESSION
        ),
    )
    m = metrics.metadata
    # The report step itself was priced at the hour that holds now, 120 g/kWh.
    assert m["carbon_intensity_g_per_kwh"] == pytest.approx(120.0)
    assert m["carbon_intensity_best_window_g_per_kwh"] == pytest.approx(50.0)
    assert m["emissions_kg_co2eq"] == pytest.approx(m["energy_kwh"] * 0.12)
    assert report.metadata["carbon_intensity_source"] == f"forecast file {forecast}"
    assert report.metadata["carbon_intensity_location"] == "europe-west4"
    # The run's rows: training priced, compression at its annual average (400 g/kWh).
    assert m["emissions_kg_co2eq_total"] == pytest.approx(3e-4 * 0.1 + 4e-4 * 0.4)
    assert m["emissions_kg_co2eq_annual_average_total"] == pytest.approx(7e-4 * 0.4)
    assert m["emissions_kg_co2eq_best_window_total"] == pytest.approx(3e-4 * 0.05 + 4e-4 * 0.4)
    page = Path(report.path).read_text()
    assert "1 of 2 steps were priced" in page and f"forecast file {forecast}" in page
