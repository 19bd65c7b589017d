"""sustainability_report through kfp.local, fed by stand-in Metrics and a real gate."""

import pytest
from helpers import energy_figures
from kfp import dsl
from kfp.dsl import Metrics, Output

from greenkfp.components import evaluate_gate, sustainability_report
from greenkfp.pipelines.runners.local import run_locally

pytestmark = pytest.mark.slow


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


@dsl.component(install_kfp_package=False)
def log_metrics(values: dict, metrics: Output[Metrics]):
    """Test-only: logs given numbers as a Metrics artifact (stands in for other steps)."""
    for name, value in values.items():
        metrics.log_metric(name, float(value))


@dsl.pipeline(name="sustainability-test")
def report_pipeline(training: dict, compression: dict, fairness: dict):
    trained = log_metrics(values=training).set_display_name("Training (stand-in)")
    compressed = log_metrics(values=compression).set_display_name("Compression (stand-in)")
    fair = log_metrics(values=fairness).set_display_name("Fairness (stand-in)")
    gate = evaluate_gate(
        policy=POLICY,
        training_metrics=trained.outputs["metrics"],
        compression_metrics=compressed.outputs["metrics"],
        fairness_metrics=fair.outputs["metrics"],
    )
    sustainability_report(
        training_metrics=trained.outputs["metrics"],
        compression_metrics=compressed.outputs["metrics"],
        fairness_metrics=fair.outputs["metrics"],
        gate_metrics=gate.outputs["metrics"],
        blessing=gate.outputs["blessing"],
    )


def test_sustainability_report_outputs(tmp_path):
    arguments = {"training": TRAINING, "compression": COMPRESSION, "fairness": FAIRNESS}
    summary = run_locally(report_pipeline, arguments, tmp_path / "run", progress=lambda s: None)
    assert summary.status == "succeeded", summary.error
    step = summary.steps[-1]
    assert step.name == "sustainability-report"
    gate_energy = summary.steps[-2].outputs["metrics"]["metadata"]["energy_kwh"]
    metrics = step.outputs["metrics"]["metadata"]
    assert metrics["energy_kwh_total"] == pytest.approx(3e-4 + 4e-4 + 5e-5 + gate_energy)
    assert metrics["approved"] == 1.0
    assert metrics["size_ratio"] == 4.0 and metrics["worst_fairness_gap"] == 0.05
    assert metrics["sci_g_co2eq_per_1k_predictions"] == pytest.approx(1e-6 * 400.0)
    assert metrics["energy_kwh"] >= 0  # its own reading, beside the totals
    assert "deployed" not in metrics
    record = step.outputs["report"]["metadata"]["sustainability"]
    assert record["gate"]["approved"] is True
    assert {c["name"] for c in record["gate"]["checks"]} >= {"min_auc"}
    assert step.outputs["report"]["metadata"]["energy_method"]
    page = open(step.outputs["report"]["uri"].removeprefix("file://")).read()
    assert "Deployment gate" in page and "APPROVED" in page
    assert "not run" in page  # deploy_model and the data steps were not wired in
