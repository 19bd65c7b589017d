"""The run summary's headline fields and the end-of-run table, from the steps' outputs."""

import pytest

from greenkfp.components._shared.step_records import RUN_FIGURES_KEY
from greenkfp.pipelines.cli.run import outcome_rows
from greenkfp.pipelines.runners.local import RunSummary, StepResult, pipeline_outcome


def _steps(approved: bool) -> list[StepResult]:
    checks = [
        {"name": "min_auc", "value": 0.8, "threshold": 0.7, "verdict": "pass", "metric": "f.auc"},
        {"name": "max_model_bytes", "value": 9e4, "threshold": 5e4, "verdict": "fail"},
        {"name": "min_improvement_vs_live", "value": None, "threshold": 0.0, "verdict": "skipped"},
    ]
    if approved:
        checks = [checks[0], checks[2]]
    outputs = {
        "evaluate-gate": {
            "blessing": {"uri": "b", "metadata": {"approved": approved, "checks": checks}}
        },
        "deploy-model": {"deployed": approved, "version": 3 if approved else 0, "pushed_uri": ""},
        "compress-model": {
            "metrics": {"uri": "m", "metadata": {"size_ratio": 4.0, "latency_speedup_p50": 1.5}}
        },
        "evaluate-fairness": {"metrics": {"uri": "f", "metadata": {"max_fairness_gap": 0.12}}},
        "sustainability-report": {
            "report": {"uri": "/x/report", "metadata": {RUN_FIGURES_KEY: {}}},
            "summary": {"uri": "/x/summary", "metadata": {RUN_FIGURES_KEY: {}}},
        },
    }
    return [StepResult(name, "succeeded", 1.0, outputs=out) for name, out in outputs.items()]


def test_outcome_of_an_approved_run():
    reports = {
        "sustainability-report.summary": "/out/reports/sustainability-report.summary.md",
        "sustainability-report.report": "/out/reports/sustainability-report.report.html",
    }
    outcome = pipeline_outcome(_steps(True), reports)
    assert outcome["approved"] is True and outcome["deployed"] is True
    assert outcome["deployed_version"] == 3
    assert [c["passed"] for c in outcome["checks"]] == [True, None]
    assert outcome["checks"][0] == {
        "name": "min_auc",
        "value": 0.8,
        "threshold": 0.7,
        "passed": True,
        "verdict": "pass",
        "metric": "f.auc",
    }
    assert (outcome["size_ratio"], outcome["latency_speedup"]) == (4.0, 1.5)
    assert outcome["worst_fairness_gap"] == 0.12
    assert outcome["report_html"] == reports["sustainability-report.report"]


def test_refused_run_and_a_pipeline_without_those_steps():
    outcome = pipeline_outcome(_steps(False), {})
    assert outcome["approved"] is False and outcome["deployed"] is False
    assert "deployed_version" not in outcome and "report_html" not in outcome
    assert [c["passed"] for c in outcome["checks"]] == [True, False, None]
    only_training = [StepResult("train-model", "succeeded", 1.0, outputs={"metrics": {}})]
    assert pipeline_outcome(only_training, {}) == {}


def test_outcome_does_not_depend_on_what_the_steps_are_called():
    renamed = [
        StepResult(f"my-step-{i}", "succeeded", 1.0, outputs=step.outputs)
        for i, step in enumerate(_steps(True))
    ]
    reports = {"my-step-4.report": "/out/reports/my-step-4.report.html"}
    outcome = pipeline_outcome(renamed, reports)
    assert outcome == pipeline_outcome(_steps(True), {"sustainability-report.report": "r.html"}) | {
        "report_html": reports["my-step-4.report"]
    }
    assert outcome["approved"] is True and outcome["deployed_version"] == 3


def test_end_of_run_table():
    steps = _steps(False)
    steps[0].energy = {"energy_method": "cpu_load_estimate"}
    summary = RunSummary(
        "p",
        "succeeded",
        "/out",
        steps,
        "",
        1.0,
        {},
        "log",
        energy_kwh_total=2e-4,
        energy_kwh_total_low=1e-4,
        energy_kwh_total_high=4e-4,
        emissions_kg_co2eq_total=8e-5,
        **pipeline_outcome(steps, {}),
    )
    rows = dict(outcome_rows(summary))
    assert rows["Gate decision"] == "REFUSED (1 checks passed, 1 skipped; failed: max_model_bytes)"
    assert rows["Deployed version"] == "none (nothing deployed)"
    assert rows["Energy, emissions"] == (
        "0.0002 kWh (0.0001 to 0.0004), 8e-05 kg CO2eq (cpu_load_estimate)"
    )
    assert rows["Size, latency"] == "4.00x smaller, 1.50x faster (p50)"
    assert rows["Worst fairness gap"] == "0.120"
    assert "HTML report" not in rows
    plain = RunSummary("p", "succeeded", "/out", [], "", 1.0, {}, "log")
    assert [label for label, _ in outcome_rows(plain)] == ["Energy, emissions"]


def test_step_energy_and_totals_carry_method_and_bounds():
    from greenkfp.pipelines.runners.local import _step_energy, energy_totals

    figures = {"energy_kwh": 2e-4, "energy_kwh_low": 1e-4, "energy_kwh_high": 4e-4}
    outputs = {
        "metrics": {"uri": "m", "metadata": {**figures, "emissions_kg_co2eq": 8e-5, "auc": 0.8}},
        "model": {"uri": "x", "metadata": {"energy_method": "cpu_load_estimate"}},
    }
    energy = _step_energy(outputs)
    assert energy["method"] == "cpu_load_estimate"
    assert (energy["low"], energy["high"]) == (1e-4, 4e-4)
    assert "auc" not in energy
    # A step from before bounds existed counts at its value in both.
    old = _step_energy({"metrics": {"uri": "m", "metadata": {"energy_kwh": 1e-5}}})
    assert old["low"] == old["high"] == 1e-5 and old["method"] == ""
    assert _step_energy({"out": {"uri": "d", "metadata": {}}}) == {}
    steps = [
        StepResult("a", "succeeded", 1.0, energy_kwh=2e-4, emissions_kg_co2eq=8e-5, energy=energy),
        StepResult("b", "succeeded", 1.0, energy_kwh=1e-5, energy=old),
        StepResult("c", "failed", 1.0),
    ]
    totals = energy_totals(steps)
    assert totals["energy_kwh_total"] == pytest.approx(2.1e-4)
    assert totals["energy_kwh_total_low"] == pytest.approx(1.1e-4)
    assert totals["energy_kwh_total_high"] == pytest.approx(4.1e-4)
    assert totals["energy_kwh_total_low"] <= totals["energy_kwh_total"]
    assert totals["energy_kwh_total"] <= totals["energy_kwh_total_high"]
    assert totals["emissions_kg_co2eq_total"] == pytest.approx(8e-5)


def test_end_of_run_table_shows_the_three_emissions_when_a_provider_priced_steps():
    summary = RunSummary(
        "p",
        "succeeded",
        "/out",
        [],
        "",
        1.0,
        {},
        "log",
        emissions_kg_as_run=6.3e-6,
        emissions_kg_annual_average=1.2e-5,
        emissions_kg_best_window=5.8e-6,
        steps_priced=5,
        carbon_intensity_source="forecast file f.csv",
    )
    rows = dict(outcome_rows(summary))
    assert rows["Emissions (kg CO2eq)"] == (
        "6.3e-06 as run, 1.2e-05 at the annual average, 5.8e-06 at the best window "
        "(forecast file f.csv)"
    )
