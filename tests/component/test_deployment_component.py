"""evaluate_gate and deploy_model through ``.python_func``; the dsl.If variant compiled."""

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from kfp import dsl
from stand_ins import StandIns

from greenkfp.components import deploy_model, evaluate_gate, import_csv, train_model
from greenkfp.components._shared.errors import InputError
from greenkfp.components.deployment import mct_card
from greenkfp.components.deployment.registry import Registry

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


def fairness_metrics(tmp_path: Path) -> dsl.Metrics:
    """Stands in for evaluate_fairness's Metrics output."""
    return StandIns.input(dsl.Metrics, tmp_path / "fairness" / "metrics", FAIRNESS)


GATE_OUTPUTS = {"blessing": dsl.Artifact, "summary": dsl.Markdown, "metrics": dsl.Metrics}
DEPLOY_OUTPUTS = {
    "deployment": dsl.Artifact,
    "inference_service": dsl.Artifact,
    "summary": dsl.Markdown,
    "metrics": dsl.Metrics,
}


def run_step(component, tmp_path: Path, step: str, **arguments) -> SimpleNamespace:
    """Runs evaluate_gate or deploy_model in its own step folder.

    Returns:
        Its output artifacts by name, and ``returned``: its output parameters.
    """
    kinds = GATE_OUTPUTS if component is evaluate_gate else DEPLOY_OUTPUTS
    folder = StandIns(tmp_path, step)
    out = SimpleNamespace(**{name: folder.output(kind, name) for name, kind in kinds.items()})
    out.returned = component.python_func(**vars(out), **arguments)
    return out


@pytest.mark.slow
def test_gate_and_deploy_approve_then_refuse_the_challenger(tmp_path, imported, trained):
    registry_uri = str(tmp_path / "registry")
    candidate = {
        "training_metrics": StandIns.passed_on(trained.metrics),
        "fairness_metrics": fairness_metrics(tmp_path),
        "registry_uri": registry_uri,
        "model_name": MODEL,
    }
    to_deploy = {
        "model": StandIns.passed_on(trained.model),
        "eval_dataset": StandIns.passed_on(imported.eval_dataset),
        "registry_uri": registry_uri,
        "model_name": MODEL,
    }

    gate = run_step(evaluate_gate, tmp_path, "gate-approve", policy=APPROVING_POLICY, **candidate)
    assert gate.returned.approved is True
    blessing = gate.blessing.metadata
    assert blessing["approved"] is True
    assert {c["name"] for c in blessing["checks"]} == {
        "min_auc",
        "max_fairness_gap[false_positive_rate/sex]",
        "max_training_emissions_kg",
        "max_model_bytes",
        "min_improvement_vs_live",  # skipped: nothing was live yet
    }
    assert json.loads(Path(gate.blessing.path).read_text())["approved"] is True
    assert "# Deployment gate: APPROVED" in Path(gate.summary.path).read_text()
    assert gate.metrics.metadata["approved"] == 1.0
    assert gate.metrics.metadata["energy_kwh"] > 0

    first = run_step(
        deploy_model,
        tmp_path,
        "deploy-blessed",
        blessing=StandIns.passed_on(gate.blessing),
        canary_rows=16,
        trained_model=StandIns.passed_on(trained.model),
        **to_deploy,
    )
    assert tuple(first.returned) == (True, 1, f"{registry_uri}/{MODEL}/1")
    pushed_uri = first.returned.pushed_uri
    assert first.metrics.metadata["canary_rows"] == 16
    assert first.metrics.metadata["canary_max_abs_diff"] <= 1e-5
    assert first.metrics.metadata["energy_kwh"] > 0
    assert first.deployment.metadata["deployed"] is True
    assert json.loads(Path(first.deployment.path).read_text())["version"] == 1
    manifest = yaml.safe_load(Path(first.inference_service.path).read_text())
    assert manifest["spec"]["predictor"]["model"]["storageUris"][0]["uri"] == pushed_uri
    version = Path(pushed_uri)
    assert (version / "saved_model.pb").exists() and (version / "model_card.md").exists()
    card = (version / "model_card.md").read_text()
    assert "| false_positive_rate | sex | 0.5 | 0.05 | 0.8 |" in card
    # the cards' hardware and grid are train_model's, read from its model's metadata
    grown = trained.model.metadata
    matter = yaml.safe_load((version / "README.md").read_text().split("---\n")[1])
    assert matter["co2_eq_emissions"]["geographical_location"].startswith(grown["country_iso_code"])
    if grown.get("cpu_model"):
        assert grown["cpu_model"] in matter["co2_eq_emissions"]["hardware_used"]
    mct_card.validate(json.loads((version / "model_card.json").read_text()))

    # The same candidate against the version just made live: it must be 0.05 better.
    challenger = run_step(
        evaluate_gate,
        tmp_path,
        "gate-challenger",
        policy="min_improvement_vs_live: 0.05",
        **candidate,
    )
    assert challenger.returned.approved is False
    reasons = challenger.blessing.metadata["reasons"]
    assert reasons == ["min_improvement_vs_live: 0 < 0.05 (fairness.auc - live v1 auc)"]

    refused = run_step(
        deploy_model,
        tmp_path,
        "deploy-refused",
        blessing=StandIns.passed_on(challenger.blessing),
        **to_deploy,
    )
    assert tuple(refused.returned) == (False, 0, "")
    assert refused.deployment.metadata["reasons"][1] == reasons[0]
    assert refused.metrics.metadata["deployed"] == 0.0
    assert "not deployed" in Path(refused.summary.path).read_text()
    assert Path(refused.inference_service.path).read_text().startswith("# Not deployed")

    reg = Registry(registry_uri)
    assert [v.version for v in reg.versions(MODEL)] == [1] and reg.live_version(MODEL) == 1
    assert reg.read_metrics(MODEL, 1)["candidate"] == {"auc": 0.8, "accuracy": 0.75}


def test_refused_blessing_pushes_nothing(tmp_path):
    """Not blessed: no model or eval data is read, and no registry is written."""
    gate = run_step(
        evaluate_gate,
        tmp_path,
        "gate",
        policy="min_auc: 0.9",
        fairness_metrics=fairness_metrics(tmp_path),
    )
    assert gate.returned.approved is False
    assert gate.metrics.metadata["checks_failed"] == 1.0
    absent = tmp_path / "no-such-model"
    refused = run_step(
        deploy_model,
        tmp_path,
        "deploy",
        model=StandIns.input(dsl.Model, absent),
        blessing=StandIns.passed_on(gate.blessing),
        eval_dataset=StandIns.input(dsl.Dataset, tmp_path / "no-such-data"),
        registry_uri=str(tmp_path / "registry"),
        model_name=MODEL,
    )
    assert tuple(refused.returned) == (False, 0, "")
    assert refused.deployment.metadata["reasons"][0] == "the gate did not bless the model"
    assert not (tmp_path / "registry").exists()


def test_malformed_policy_fails_the_gate_clearly(tmp_path):
    message = "policy: unknown key(s) min_acc; known keys: min_auc"
    with pytest.raises(InputError, match=re.escape(message)):
        run_step(
            evaluate_gate,
            tmp_path,
            "gate",
            policy="min_acc: 0.7",
            fairness_metrics=fairness_metrics(tmp_path),
        )


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
