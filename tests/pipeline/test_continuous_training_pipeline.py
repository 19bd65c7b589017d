"""continuous_training_pipeline: first model, then the same data skipped; the dsl.If variant.

One kfp.local run pair (first run + skip run on the same registry); what shifted data or a
quality drop decides is tested at the component level
(tests/component/test_continuous_training_component.py).
"""

import pytest
import yaml
from helpers import load_summary, run_cli
from kfp import components

from greenkfp.components._shared.registry_reading import PIPELINE_ENERGY_FILE, RegistryReader
from greenkfp.pipelines import continuous_training_pipeline
from greenkfp.pipelines.continuous_training import build_continuous_training_pipeline
from greenkfp.pipelines.tools.compiler import compile_to_file

MODEL = "greenkfp-model"
RETRAINING_STEPS = [
    "infer-schema",
    "train-model",
    "compress-model",
    "evaluate-fairness",
    "mitigate-fairness",
    "evaluate-gate",
    "deploy-model",
    "sustainability-report",
]


def test_conditional_variant_compiles_and_loads_back(tmp_path):
    conditional = build_continuous_training_pipeline(conditional=True)
    path = compile_to_file(conditional, tmp_path / "conditional.yaml")
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == "continuous-training-pipeline-conditional"
    assert set(loaded.component_spec.inputs) == set(
        continuous_training_pipeline.component_spec.inputs
    )
    spec = yaml.safe_load(path.read_text())
    root = spec["root"]["dag"]["tasks"]
    assert set(root) == {"import-csv", "generate-statistics", "decide-retraining", "condition-1"}
    condition = root["condition-1"]
    assert condition["taskInfo"]["name"] == "retrain"
    assert "decide-retraining" in condition["dependentTasks"]
    trigger = condition["triggerPolicy"]["condition"]
    assert "pipelinechannel--decide-retraining-retrain" in trigger and "true" in trigger
    inner = spec["components"][condition["componentRef"]["name"]]["dag"]["tasks"]
    assert set(inner) == set(RETRAINING_STEPS)
    # Inside dsl.If no step needs the decision: none is given one.
    assert all("decision" not in t["inputs"].get("artifacts", {}) for t in inner.values())


def test_skip_variant_hands_the_decision_to_every_retraining_step():
    tasks = continuous_training_pipeline.pipeline_spec.root.dag.tasks
    for name in RETRAINING_STEPS:
        source = tasks[name].inputs.artifacts["decision"].task_output_artifact
        assert (source.producer_task, source.output_artifact_key) == (
            "decide-retraining",
            "decision",
        )


def test_local_run_refuses_the_conditional_variant(tmp_path):
    result = run_cli(
        "run",
        "--pipeline",
        "continuous_training_pipeline_conditional",
        "--output-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    assert "runs on clusters only (dsl.If, which kfp.local refuses)" in result.stderr


@pytest.mark.slow
def test_first_run_trains_then_the_same_data_skips_and_avoids_energy(tmp_path):
    registry = tmp_path / "registry"
    common = ["--pipeline", "continuous_training_pipeline", "--registry", str(registry)]
    common += ["--epochs", "3", "--compression", "dynamic"]

    first = run_cli("run", "--output-dir", str(tmp_path / "first"), *common, timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    trained = load_summary(tmp_path / "first")
    assert trained["retrained"] is True and trained["energy_avoided_kwh"] == 0.0
    assert trained["retrain_reasons"] == [
        f"no live version of '{MODEL}' in {registry}: training one"
    ]
    assert trained["deployed"] is True and trained["deployed_version"] == 1
    assert {s["status"] for s in trained["steps"]} == {"succeeded"}
    reader = RegistryReader(str(registry))
    recorded = reader.read_json(MODEL, 1, PIPELINE_ENERGY_FILE)
    assert set(recorded["steps"]) == {
        "import_csv",
        "statistics_train",
        "decide_retraining",
        "infer_schema",
        "train_model",
        "compress_model",
        "evaluate_fairness",
        "mitigate_fairness",
        "evaluate_gate",
    }
    assert "Retrained            yes" in first.stdout

    second = run_cli("run", "--output-dir", str(tmp_path / "second"), *common, timeout=900)
    assert second.returncode == 0, second.stdout + second.stderr
    skipped = load_summary(tmp_path / "second")
    assert skipped["retrained"] is False
    reasons = skipped["retrain_reasons"]
    assert [r.split(":")[0] for r in reasons] == ["no drift"] * 4 + ["no quality drop"] + [
        "fairness (reported, not a retrain criterion)"
    ] * 2
    assert "false_negative_rate gap by sex" in reasons[5] and "by age" in reasons[6]
    assert "jensen-shannon 0 <= 0.1" in reasons[0]
    status = {s["name"]: s["status"] for s in skipped["steps"]}
    assert {status[name] for name in RETRAINING_STEPS} == {"skipped"}
    assert [status[n] for n in ("import-csv", "generate-statistics", "decide-retraining")] == [
        "succeeded"
    ] * 3
    spent = skipped["energy_kwh_total"]
    assert skipped["energy_avoided_kwh"] == pytest.approx(recorded["total_kwh"] - spent)
    assert spent < 0.5 * recorded["total_kwh"]
    assert skipped["deployed"] is False and reader.live_version(MODEL) == 1
    assert [v.version for v in reader.versions(MODEL)] == [1]
    assert "Retrained            no (skipped)" in second.stdout
    assert "[4/11] Infer schema (infer-schema) skipped" in second.stdout


def test_the_up_front_check_names_a_bad_retrain_policy_or_threshold():
    from google.protobuf import json_format

    from greenkfp.pipelines.runners.preflight import PreflightError, check_parameters

    spec = json_format.MessageToDict(continuous_training_pipeline.pipeline_spec)
    with pytest.raises(PreflightError, match="decide-retraining: retrain policy .* 'weekly'"):
        check_parameters(spec, {"data_uri": "new.csv", "retrain_policy": "weekly"})
    with pytest.raises(PreflightError, match="decide-retraining: threshold ks_p_value"):
        check_parameters(spec, {"data_uri": "new.csv", "ks_p_value": 2.0})
    check_parameters(spec, {"data_uri": "new.csv", "retrain_policy": "always"})
