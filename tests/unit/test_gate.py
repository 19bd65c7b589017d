"""The gate's checks: each policy key both ways, sources, missing metrics, champion/challenger."""

import json
import math

import pytest

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.step_records import BlessingRecord
from greenkfp.components.deployment import gate
from greenkfp.components.deployment.gate import LiveModel, evaluate
from greenkfp.components.deployment.gate_task import run_evaluate_gate
from greenkfp.components.deployment.policy import parse_policy
from greenkfp.components.deployment.registry import Registry
from greenkfp.components.deployment.report import render_evaluate_gate

LIVE = LiveModel(version=3, uri="/registry/credit-risk/3", metrics={"auc": 0.70, "accuracy": 0.7})

# key, threshold, metrics that pass, metrics that fail (source -> metrics)
CASES = [
    ("min_auc", 0.7, {"training": {"auc": 0.71}}, {"training": {"auc": 0.69}}),
    ("min_accuracy", 0.7, {"training": {"accuracy": 0.7}}, {"training": {"accuracy": 0.65}}),
    (
        "max_accuracy_drop_vs_base",
        0.02,
        {"compression": {"accuracy_drop": 0.01}},
        {"compression": {"accuracy_drop": 0.03}},
    ),
    (
        "max_training_emissions_kg",
        1e-3,
        {"training": {"emissions_kg_co2eq": 5e-4}},
        {"training": {"emissions_kg_co2eq": 2e-3}},
    ),
    (
        "max_model_bytes",
        100_000,
        {"compression": {"compressed_bytes": 40_000}},
        {"compression": {"compressed_bytes": 150_000}},
    ),
    (
        "max_p95_latency_ms",
        5.0,
        {"compression": {"compressed_latency_p95_ms": 1.2}},
        {"compression": {"compressed_latency_p95_ms": 7.5}},
    ),
    (
        "max_inference_energy_kwh_per_1k",
        1e-4,
        {"compression": {"compressed_inference_energy_kwh_per_1k": 5e-5}},
        {"compression": {"compressed_inference_energy_kwh_per_1k": 3e-4}},
    ),
    (
        "max_fairness_gap",
        0.1,
        {"fairness": {"max_fairness_gap": 0.04}},
        {"fairness": {"max_fairness_gap": 0.12}},
    ),
    (
        "max_fairness_gap",
        {"false_positive_rate": {"sex": 0.1}},
        {"fairness": {"false_positive_rate_gap_sex@0.5": 0.05}},
        {"fairness": {"false_positive_rate_gap_sex@0.5": 0.15}},
    ),
    (
        "min_improvement_vs_live",
        0.01,
        {"training": {"auc": 0.72}},
        {"training": {"auc": 0.705}},
    ),
]


def run(policy: dict, sources: dict, live=None, champion=False) -> gate.GateResult:
    return evaluate(parse_policy(json.dumps(policy)), **sources, live=live, champion_check=champion)


@pytest.mark.parametrize("key, threshold, passing, failing", CASES, ids=lambda v: str(v)[:30])
@pytest.mark.parametrize("outcome", ["pass", "fail"])
def test_every_policy_key_both_ways(key, threshold, passing, failing, outcome):
    # Only the check under test is on (min_auc stays on for champion/challenger, and passes).
    policy = {"min_auc": 0.0 if key == "min_improvement_vs_live" else None, key: threshold}
    champion = key == "min_improvement_vs_live"
    if key == "min_auc":
        policy = {key: threshold}
    result = run(policy, passing if outcome == "pass" else failing, LIVE, champion)
    checks = [c for c in result.checks if c.name.startswith(key)]
    assert len(checks) == 1
    assert checks[0].verdict == outcome
    assert result.approved is (outcome == "pass")
    record = result.to_dict()
    assert record["approved"] is result.approved
    if outcome == "fail":
        assert record["reasons"] and record["reasons"][0].startswith(key)
    else:
        assert record["reasons"] == []
    json.dumps(record)  # the blessing is JSON


def test_quality_prefers_fairness_then_compression_then_training():
    training = {"auc": 0.9, "accuracy": 0.9, "model_bytes": 400_000.0}
    compression = {"compressed_auc": 0.8, "compressed_accuracy": 0.8}
    fairness = {"auc": 0.7}
    policy = {"min_auc": 0.5, "min_accuracy": 0.5, "max_model_bytes": 500_000}
    result = run(policy, {"training": training, "compression": compression, "fairness": fairness})
    read = {c.name: (c.metric, c.value) for c in result.checks}
    assert read["min_auc"] == ("fairness.auc", 0.7)
    assert read["min_accuracy"] == ("compression.compressed_accuracy", 0.8)
    # No compressed_bytes: the size check falls back to training's model_bytes.
    assert read["max_model_bytes"] == ("training.model_bytes", 400_000.0)
    assert result.candidate_metrics == {
        "auc": {"value": 0.7, "source": "fairness.auc"},
        "accuracy": {"value": 0.8, "source": "compression.compressed_accuracy"},
    }


def test_missing_metrics_are_errors_naming_every_check():
    policy = {"min_auc": 0.7, "max_p95_latency_ms": 5, "max_training_emissions_kg": 1}
    with pytest.raises(InputError) as err:
        run(policy, {"training": {"accuracy": 0.8}})
    message = str(err.value)
    assert "min_auc needs fairness metric 'auc' or compression metric 'compressed_auc'" in message
    assert "max_p95_latency_ms needs compression metric 'compressed_latency_p95_ms'" in message
    assert "max_training_emissions_kg needs training metric 'emissions_kg_co2eq'" in message
    assert "given inputs: training" in message
    with pytest.raises(InputError, match="given inputs: none"):
        run({"min_auc": 0.7}, {})


def test_fairness_bound_per_metric_checks_every_feature_at_the_decision_threshold():
    fairness = {
        "false_negative_rate_gap_sex@0.5": 0.05,
        "false_negative_rate_gap_age_group@0.5": 0.2,
        "false_negative_rate_gap_age_group@0.3": 0.9,  # another threshold: not read
        "false_negative_rate_ratio_sex@0.5": 0.8,  # a ratio, not a gap
        "false_negative_rate_gap_significant_sex@0.5": 1.0,  # a verdict, not a gap
        "positive_rate_gap_sex@0.5": 0.5,
    }
    result = run(
        {"min_auc": None, "max_fairness_gap": {"false_negative_rate": 0.1}}, {"fairness": fairness}
    )
    verdicts = {c.name: c.verdict for c in result.checks}
    assert verdicts == {
        "max_fairness_gap[false_negative_rate/age_group]": "fail",
        "max_fairness_gap[false_negative_rate/sex]": "pass",
    }
    with pytest.raises(InputError, match="true_positive_rate_gap_<feature>@0.5"):
        run(
            {"max_fairness_gap": {"true_positive_rate": 0.1}},
            {"fairness": fairness, "training": {"auc": 0.8}},
        )
    with pytest.raises(InputError, match="false_negative_rate_gap_race@0.5"):
        run(
            {"max_fairness_gap": {"false_negative_rate": {"race": 0.1}}},
            {"fairness": fairness, "training": {"auc": 0.8}},
        )


def test_nan_metric_fails_its_check():
    result = run({"min_auc": 0.5}, {"training": {"auc": math.nan}})
    assert not result.approved and "NaN" in result.reasons[0]


def test_champion_check_is_skipped_without_a_live_model_and_errors_without_its_metric():
    result = run({"min_auc": 0.5}, {"training": {"auc": 0.8}}, live=None, champion=True)
    assert result.approved
    assert [(c.name, c.verdict) for c in result.checks][-1] == (
        "min_improvement_vs_live",
        "skipped",
    )
    # Without a registry, no champion check at all.
    assert [c.name for c in run({"min_auc": 0.5}, {"training": {"auc": 0.8}}).checks] == ["min_auc"]
    no_accuracy = LiveModel(2, "/r/m/2", {"auc": 0.7})
    with pytest.raises(InputError, match="needs 'accuracy' recorded for live version 2"):
        run(
            {"champion_metric": "accuracy"},
            {"training": {"auc": 0.8, "accuracy": 0.8}},
            no_accuracy,
            True,
        )


def test_markdown_summary_lists_every_check_and_the_reasons():
    result = run(
        {"min_auc": 0.75, "max_model_bytes": 1000},
        {"training": {"auc": 0.8, "model_bytes": 5000.0}},
    )
    result.model_name = "credit-risk"
    energy = {"energy_kwh": 2e-7, "emissions_kg_co2eq": 8e-8, "duration_s": 0.5}
    text = render_evaluate_gate(result, {**energy, "energy_method": "cpu_load_estimate"})
    assert text.startswith("# Deployment gate: REFUSED (credit-risk)")
    assert "This step: 2e-07 kWh, 8e-08 kg CO2eq in 0.5 s (cpu_load_estimate)." in text
    assert "max_model_bytes: 5000 > 1000 (training.model_bytes)" in text
    assert "| min_auc | training.auc | 0.8 | >= 0.75 | pass |" in text
    assert "| max_model_bytes | training.model_bytes | 5000 | <= 1000 | **FAIL** |" in text


def gate_run(policy_text, inputs, registry_uri, model_name):
    return run_evaluate_gate(
        policy_text=policy_text, inputs=inputs, registry_uri=registry_uri, model_name=model_name
    )


def test_run_gate_reads_the_live_model_from_the_registry(tmp_path):
    base = tmp_path / "registry"
    candidate = tmp_path / "m"
    candidate.mkdir()
    (candidate / "saved_model.pb").write_bytes(b"x")
    recorded = {"candidate": {"auc": 0.8, "accuracy": 0.75}}
    Registry(str(base)).push(
        "credit-risk",
        [(str(candidate / "saved_model.pb"), "saved_model.pb")],
        lambda version, uri: {"metrics.json": json.dumps(recorded).encode()},
    )
    inputs = {"training": ("gs://b/train/metrics", {"auc": 0.81, "accuracy": 0.7, "note": "x"})}
    policy = "min_auc: 0.7\nmin_improvement_vs_live: 0.02"
    result = gate_run(policy, inputs, str(base), "credit-risk")
    champion = result.checks[-1]
    assert champion.name == "min_improvement_vs_live" and champion.verdict == "fail"
    assert champion.value == pytest.approx(0.01)
    assert result.live.version == 1 and not result.approved
    assert result.model_name == "credit-risk"
    assert result.figures == {"approved": 0.0, "checks_passed": 1.0, "checks_failed": 1.0}
    assert result.metadata == {k: result.to_dict()[k] for k in BlessingRecord.METADATA_KEYS}
    assert result.inputs["training"] == {
        "uri": "gs://b/train/metrics",
        "metrics": {"auc": 0.81, "accuracy": 0.7},
    }
    # An empty registry (first deployment): the champion check is skipped.
    first = gate_run(policy, inputs, str(tmp_path / "empty"), "credit-risk")
    assert first.approved and first.checks[-1].verdict == "skipped"
    with pytest.raises(InputError, match="needs a model_name"):
        gate_run(policy, inputs, str(base), "")
    # A name without a registry only labels the summary: no champion check.
    unnamed = gate_run(policy, inputs, "", "credit-risk")
    assert unnamed.approved and unnamed.live is None
    assert all(
        c.name != "min_improvement_vs_live" or c.verdict == "skipped" for c in unnamed.checks
    )
    with pytest.raises(InputError, match="model name 'Credit' is not valid"):
        gate_run(policy, inputs, str(base), "Credit")
