"""The run summary's headline fields and the end-of-run table, from the steps' outputs."""

from greenkfp.pipelines.cli.run import outcome_rows
from greenkfp.pipelines.runners.local import RunSummary, StepResult, pipeline_outcome

COMPONENTS = {
    "evaluate-gate": "evaluate_gate",
    "deploy-model": "deploy_model",
    "compress-model": "compress_model",
    "evaluate-fairness": "evaluate_fairness",
    "sustainability-report": "sustainability_report",
}


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
        "sustainability-report": {"report": {"uri": "/x/report", "metadata": {}}},
    }
    return [StepResult(name, "succeeded", 1.0, outputs=out) for name, out in outputs.items()]


def test_outcome_of_an_approved_run():
    reports = {"sustainability-report.report": "/out/reports/sustainability-report.report.html"}
    outcome = pipeline_outcome(_steps(True), COMPONENTS, reports)
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
    outcome = pipeline_outcome(_steps(False), COMPONENTS, {})
    assert outcome["approved"] is False and outcome["deployed"] is False
    assert "deployed_version" not in outcome and "report_html" not in outcome
    assert [c["passed"] for c in outcome["checks"]] == [True, False, None]
    only_training = [StepResult("train-model", "succeeded", 1.0, outputs={"metrics": {}})]
    assert pipeline_outcome(only_training, {"train-model": "train_model"}, {}) == {}


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
        emissions_kg_co2eq_total=8e-5,
        **pipeline_outcome(steps, COMPONENTS, {}),
    )
    rows = dict(outcome_rows(summary))
    assert rows["Gate decision"] == "REFUSED (1 checks passed, 1 skipped; failed: max_model_bytes)"
    assert rows["Deployed version"] == "none (nothing deployed)"
    assert rows["Energy, emissions"] == "0.0002 kWh, 8e-05 kg CO2eq (cpu_load_estimate)"
    assert rows["Size, latency"] == "4.00x smaller, 1.50x faster (p50)"
    assert rows["Worst fairness gap"] == "0.120"
    assert "HTML report" not in rows
    plain = RunSummary("p", "succeeded", "/out", [], "", 1.0, {}, "log")
    assert [label for label, _ in outcome_rows(plain)] == ["Energy, emissions"]
