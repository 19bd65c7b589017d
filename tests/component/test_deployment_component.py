"""evaluate_gate and deploy_model through kfp.local; the dsl.If variant compiled."""

import json
from pathlib import Path

import pytest
import yaml
from kfp import dsl
from kfp.dsl import Metrics, Output

from greenkfp.components import deploy_model, evaluate_gate, import_csv, train_model
from greenkfp.components.deployment.registry import Registry
from greenkfp.pipelines.runners.local import run_locally

MODEL = "credit-risk"
FAIRNESS = {
    "auc": 0.8,
    "accuracy": 0.75,
    "false_positive_rate_gap_sex@0.5": 0.05,
    "false_positive_rate_ratio_sex@0.5": 0.8,
    "max_fairness_gap": 0.05,
}
APPROVING_POLICY = """
min_auc: 0.6
max_fairness_gap: {false_positive_rate: {sex: 0.1}}
max_training_emissions_kg: 1.0
max_model_bytes: 100000000
"""


@dsl.component(install_kfp_package=False)
def log_metrics(values: dict, metrics: Output[Metrics]):
    """Test-only: logs given numbers as a Metrics artifact (stands in for other steps)."""
    for name, value in values.items():
        metrics.log_metric(name, float(value))


@dsl.pipeline(name="deployment-test")
def gate_and_deploy(data_uri: str, registry_uri: str, fairness: dict):
    data = import_csv(data_uri=data_uri, label_column="risk")
    training = train_model(
        train_dataset=data.outputs["train_dataset"],
        eval_dataset=data.outputs["eval_dataset"],
        label_column="risk",
        categorical_features=["job"],
        epochs=1,
        hidden_units=[8],
    )
    evaluation = log_metrics(values=fairness).set_display_name("Fairness (stand-in)")
    approve = evaluate_gate(
        policy=APPROVING_POLICY,
        training_metrics=training.outputs["metrics"],
        fairness_metrics=evaluation.outputs["metrics"],
        registry_uri=registry_uri,
        model_name=MODEL,
    ).set_display_name("Gate: approve")
    first = deploy_model(
        model=training.outputs["model"],
        blessing=approve.outputs["blessing"],
        eval_dataset=data.outputs["eval_dataset"],
        registry_uri=registry_uri,
        model_name=MODEL,
        canary_rows=16,
    ).set_display_name("Deploy: blessed")
    # The same candidate against the version just made live: it must be 0.05 better.
    challenge = (
        evaluate_gate(
            policy="min_improvement_vs_live: 0.05",
            training_metrics=training.outputs["metrics"],
            fairness_metrics=evaluation.outputs["metrics"],
            registry_uri=registry_uri,
            model_name=MODEL,
        )
        .set_display_name("Gate: challenger")
        .after(first)
    )
    deploy_model(
        model=training.outputs["model"],
        blessing=challenge.outputs["blessing"],
        eval_dataset=data.outputs["eval_dataset"],
        registry_uri=registry_uri,
        model_name=MODEL,
    ).set_display_name("Deploy: refused")


@dsl.pipeline(name="gate-bad-policy-test")
def gate_with_bad_policy(fairness: dict):
    evaluation = log_metrics(values=fairness)
    evaluate_gate(policy="min_acc: 0.7", fairness_metrics=evaluation.outputs["metrics"])


@pytest.mark.slow
def test_gate_and_deploy_approve_then_refuse_the_challenger(tmp_path):
    from helpers import EMBEDDED_DATA

    registry_uri = str(tmp_path / "registry")
    arguments = {"data_uri": str(EMBEDDED_DATA), "registry_uri": registry_uri, "fairness": FAIRNESS}
    summary = run_locally(gate_and_deploy, arguments, tmp_path / "run", progress=lambda line: None)
    assert summary.status == "succeeded", summary.error
    steps = {s.display_name: s for s in summary.steps}

    gate = steps["Gate: approve"].outputs
    assert gate["approved"] is True
    blessing = gate["blessing"]["metadata"]
    assert blessing["approved"] is True
    assert {c["name"] for c in blessing["checks"]} == {
        "min_auc",
        "max_fairness_gap[false_positive_rate/sex]",
        "max_training_emissions_kg",
        "max_model_bytes",
        "min_improvement_vs_live",  # skipped: nothing was live yet
    }
    assert json.loads(Path(gate["blessing"]["uri"]).read_text())["approved"] is True
    assert "# Deployment gate: APPROVED" in Path(gate["summary"]["uri"]).read_text()
    assert gate["metrics"]["metadata"]["approved"] == 1.0
    assert gate["metrics"]["metadata"]["energy_kwh"] > 0

    first = steps["Deploy: blessed"].outputs
    assert (first["deployed"], first["version"]) == (True, 1)
    assert first["pushed_uri"] == f"{registry_uri}/{MODEL}/1"
    assert first["metrics"]["metadata"]["canary_rows"] == 16
    assert first["metrics"]["metadata"]["canary_max_abs_diff"] <= 1e-5
    assert first["metrics"]["metadata"]["energy_kwh"] > 0
    manifest = yaml.safe_load(Path(first["inference_service"]["uri"]).read_text())
    assert manifest["spec"]["predictor"]["model"]["storageUris"][0]["uri"] == first["pushed_uri"]
    version = Path(first["pushed_uri"])
    assert (version / "saved_model.pb").exists() and (version / "model_card.md").exists()
    card = (version / "model_card.md").read_text()
    assert "| false_positive_rate | sex | 0.5 | 0.05 | 0.8 |" in card

    challenger = steps["Gate: challenger"].outputs
    assert challenger["approved"] is False
    reasons = challenger["blessing"]["metadata"]["reasons"]
    assert reasons == ["min_improvement_vs_live: 0 < 0.05 (fairness.auc - live v1 auc)"]

    refused = steps["Deploy: refused"].outputs
    assert (refused["deployed"], refused["version"], refused["pushed_uri"]) == (False, 0, "")
    assert refused["deployment"]["metadata"]["reasons"][1] == reasons[0]
    assert "not deployed" in Path(refused["summary"]["uri"]).read_text()

    reg = Registry(registry_uri)
    assert [v.version for v in reg.versions(MODEL)] == [1] and reg.live_version(MODEL) == 1
    assert reg.read_metrics(MODEL, 1)["candidate"] == {"auc": 0.8, "accuracy": 0.75}


@pytest.mark.slow
def test_malformed_policy_fails_the_gate_clearly(tmp_path):
    summary = run_locally(
        gate_with_bad_policy, {"fairness": FAIRNESS}, tmp_path / "run", progress=lambda line: None
    )
    assert summary.status == "failed" and summary.failed_step == "evaluate-gate"
    assert "policy: unknown key(s) min_acc; known keys: min_auc" in summary.error


def test_conditional_deployment_compiles_with_dsl_if(tmp_path):
    """On a cluster, deploy_model can also sit inside dsl.If on the gate's approved output."""
    from kfp import compiler

    @dsl.pipeline(name="conditional-deploy")
    def conditional(registry_uri: str, policy: str = ""):
        data = import_csv(data_uri="gs://bucket/data.csv", label_column="risk")
        training = train_model(
            train_dataset=data.outputs["train_dataset"],
            eval_dataset=data.outputs["eval_dataset"],
            label_column="risk",
        )
        gate = evaluate_gate(policy=policy, training_metrics=training.outputs["metrics"])
        with dsl.If(gate.outputs["approved"] == True, name="approved"):  # noqa: E712
            deploy_model(
                model=training.outputs["model"],
                blessing=gate.outputs["blessing"],
                eval_dataset=data.outputs["eval_dataset"],
                registry_uri=registry_uri,
                model_name=MODEL,
            )

    path = tmp_path / "conditional.yaml"
    compiler.Compiler().compile(conditional, str(path))
    spec = yaml.safe_load(path.read_text())
    condition = spec["root"]["dag"]["tasks"]["condition-1"]
    assert "approved" in condition["triggerPolicy"]["condition"]
    assert "deploy-model" in spec["components"]["comp-condition-1"]["dag"]["tasks"]
