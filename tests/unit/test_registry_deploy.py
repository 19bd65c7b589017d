"""deploy_model's logic: blessing, push with model card and manifest, canary, KServe, bad input."""

import json
import os

import pytest
import yaml

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.serving_spec import read_serving_spec
from greenkfp.components._shared.step_records import BlessingRecord
from greenkfp.components.deployment import kserve, model_card
from greenkfp.components.deployment.deploy_task import run_deploy_model
from greenkfp.components.deployment.registry import Registry
from greenkfp.components.deployment.report import render_deploy_model, render_inference_service

MODEL = "credit-risk"

BLESSING = {
    "approved": True,
    "reasons": [],
    "checks": [
        {
            "name": "min_auc",
            "metric": "fairness.auc",
            "value": 0.81,
            "threshold": 0.7,
            "comparison": ">=",
            "verdict": "pass",
            "detail": "",
        }
    ],
    "candidate_metrics": {"auc": {"value": 0.81, "source": "fairness.auc"}},
    "policy": {"min_auc": 0.7},
    "live": None,
    "inputs": {
        "training": {
            "uri": "gs://b/run/train/metrics",
            "metrics": {"auc": 0.83, "energy_kwh": 0.002, "emissions_kg_co2eq": 0.0007},
        },
        "fairness": {
            "uri": "gs://b/run/fair/metrics",
            "metrics": {
                "auc": 0.81,
                "false_positive_rate_gap_sex@0.5": 0.08,
                "false_positive_rate_ratio_sex@0.5": 0.7,
                "max_fairness_gap": 0.08,
            },
        },
    },
}

BLESSING_RECORD = BlessingRecord.from_dict(BLESSING)


@pytest.fixture
def files(tmp_path, german_credit):
    """A fake candidate (no TensorFlow), a blessing and eval data."""
    candidate = tmp_path / "candidate"
    (candidate / "saved_model" / "variables").mkdir(parents=True)
    (candidate / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (candidate / "saved_model" / "variables" / "variables.index").write_bytes(b"i")
    (candidate / "model_metadata.json").write_text(
        json.dumps({"label_column": "risk", "n_train": 800, "feature_spec": {"numeric": ["age"]}})
    )
    blessing = tmp_path / "blessing.json"
    blessing.write_text(json.dumps(BLESSING))
    eval_data = tmp_path / "eval.csv"
    german_credit.head(50).to_csv(eval_data, index=False)
    return candidate, blessing, eval_data


def deploy(files, base, model_name=MODEL, **kwargs):
    candidate, blessing, eval_data = files
    kwargs.setdefault("verifier", lambda folder: None)
    return run_deploy_model(
        model_dir=str(candidate),
        blessing_path=str(blessing),
        eval_path=str(eval_data),
        registry_uri=str(base),
        model_name=model_name,
        **kwargs,
    )


def test_blessed_model_is_pushed_with_card_metrics_and_manifest(tmp_path, files):
    base = tmp_path / "registry"
    seen = []
    outcome = deploy(files, base, verifier=lambda folder: seen.append(sorted(os.listdir(folder))))
    assert outcome.deployed and outcome.version == 1 and outcome.live
    assert outcome.pushed_uri == str(base / MODEL / "1")
    assert seen == [["model_metadata.json", "saved_model.pb", "variables"]]
    version = base / MODEL / "1"
    assert {p.name for p in version.iterdir()} == {
        "saved_model.pb",
        "variables",
        "model_metadata.json",
        "blessing.json",
        "metrics.json",
        "model_card.md",
        "model_card.json",
        "README.md",
        "inferenceservice.yaml",
        "lineage.json",
        "serving.json",
        "_COMPLETE",
    }
    serving = json.loads((version / "serving.json").read_text())
    assert serving["format"] == "saved_model" and serving["files"] == ["saved_model.pb"]
    assert json.loads((version / "blessing.json").read_text()) == BLESSING
    recorded = json.loads((version / "metrics.json").read_text())
    assert recorded["candidate"] == {"auc": 0.81} and recorded["version"] == 1
    assert recorded["training"]["energy_kwh"] == 0.002
    card = (version / "model_card.md").read_text()
    for heading in [
        "# Model card: credit-risk, version 1",
        "## Intended use",
        "## Data",
        "## Quality",
        "## Fairness per slice",
        "## Energy and carbon of training",
        "## Compression",
        "## Deployment gate",
        "## Canary verification",
        "## Lineage",
    ]:
        assert heading in card, heading
    assert "| false_positive_rate | sex | 0.5 | 0.08 | 0.7 |" in card
    assert "| emissions (kg CO2eq) | 0.0007 |" in card
    assert "| label column | risk |" in card and "| training rows | 800 |" in card
    lineage = json.loads((version / "lineage.json").read_text())
    assert [e["input"] for e in lineage][:3] == ["model", "eval data", "blessing"]
    assert all(len(e["sha256"]) == 64 for e in lineage[:3])
    manifest = yaml.safe_load((version / "inferenceservice.yaml").read_text())
    assert manifest == outcome.manifest
    assert manifest["spec"]["predictor"]["model"]["storageUris"] == [
        {"uri": str(base / MODEL / "1"), "path": "/mnt/models/1"}
    ]
    # The next push is version 2; the gate can read version 1's figures meanwhile.
    assert deploy(files, base).version == 2
    assert Registry(str(base)).read_metrics(MODEL, 1)["candidate"]["auc"] == 0.81


def test_not_blessed_writes_nothing_and_says_why(tmp_path, files):
    candidate, blessing, eval_data = files
    refused = {**BLESSING, "approved": False, "reasons": ["min_auc: 0.6 < 0.7 (fairness.auc)"]}
    blessing.write_text(json.dumps(refused))
    base = tmp_path / "registry"
    outcome = deploy(files, base)
    assert not outcome.deployed and outcome.version == 0 and outcome.pushed_uri == ""
    assert outcome.reasons == ["the gate did not bless the model", refused["reasons"][0]]
    assert not base.exists()
    assert json.loads(outcome.to_json())["deployed"] is False
    assert render_inference_service(outcome).startswith(
        "# Not deployed: the gate did not bless the model"
    )
    assert "Nothing was written to" in render_deploy_model(outcome, {})


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c, b, e: b.write_text("{not json"), "is not JSON"),
        (
            lambda c, b, e: b.write_text('{"approved": "yes", "checks": []}'),
            "no boolean 'approved'",
        ),
        (lambda c, b, e: b.unlink(), "file not found"),
        (lambda c, b, e: e.write_text("risk,age\n"), "has no rows for canary predictions"),
        (lambda c, b, e: [p.unlink() for p in c.rglob("*") if p.is_file()], "is empty"),
    ],
    ids=["blessing-not-json", "blessing-no-approved", "no-blessing", "empty-eval", "empty-model"],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, files, change, message):
    change(*files)
    base = tmp_path / "registry"
    with pytest.raises(InputError, match=message):
        deploy(files, base)
    assert not base.exists()


def test_bad_parameters_are_refused_before_any_write(tmp_path, files, monkeypatch):
    base = tmp_path / "registry"
    with pytest.raises(InputError, match="model name 'Credit_Risk' is not valid"):
        deploy(files, base, model_name="Credit_Risk")
    with pytest.raises(InputError, match="registry_uri is empty"):
        deploy(files, "")
    with pytest.raises(InputError, match="canary_rows must be at least 1"):
        deploy(files, base, canary_rows=0)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(InputError, match="apply=True needs a Kubernetes cluster"):
        deploy(files, base, apply=True)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    with pytest.raises(InputError, match="local path"):
        deploy(files, base, apply=True)
    assert not base.exists()


def test_unwritable_registry_is_a_clear_error(tmp_path, files):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="is not writable"):
        deploy(files, blocker / "registry")


# ----------------------------------------------------------------------------- KServe


def test_manifest_pinned_and_model_root():
    pinned = kserve.inference_service(MODEL, "gs://b/reg/credit-risk", 4, namespace="ml")
    assert pinned["apiVersion"] == "serving.kserve.io/v1beta1"
    assert pinned["kind"] == "InferenceService"
    assert pinned["metadata"]["name"] == MODEL and pinned["metadata"]["namespace"] == "ml"
    assert pinned["metadata"]["annotations"]["greenkfp.dev/model-version"] == "4"
    model = pinned["spec"]["predictor"]["model"]
    assert model == {
        "modelFormat": {"name": "tensorflow"},
        "storageUris": [{"uri": "gs://b/reg/credit-risk/4", "path": "/mnt/models/4"}],
    }
    root = kserve.inference_service(MODEL, "gs://b/reg/credit-risk/", 4, pin_version=False)
    assert "namespace" not in root["metadata"]
    assert root["spec"]["predictor"]["model"]["storageUri"] == "gs://b/reg/credit-risk"
    assert yaml.safe_load(kserve.to_yaml(pinned)) == pinned


def test_manifest_of_a_tflite_pair_runs_the_greenkfp_predictor():
    container = kserve.predictor_container("img:1", "gs://b/reg", MODEL)
    manifest = kserve.inference_service(MODEL, "gs://b/reg/credit-risk", 3, container=container)
    predictor = manifest["spec"]["predictor"]
    assert "model" not in predictor and predictor["containers"] == [container]
    assert container["command"] == ["greenkfp"] and container["image"] == "img:1"
    assert container["args"] == [
        "serve", "--registry", "gs://b/reg", "--model-name", MODEL,
        "--host", "0.0.0.0", "--port", "8080",
    ]  # fmt: skip
    annotations = manifest["metadata"]["annotations"]
    assert annotations["serving.kserve.io/enable-prometheus-scraping"] == "true"
    assert annotations["greenkfp.dev/model-version"] == "3"
    exists = FakeApi(create_status=409)
    assert kserve.apply(manifest, exists) == "patched"
    body = exists.calls[1][3]
    assert body["spec"]["predictor"] == {"containers": [container], "model": None}


def test_serving_spec_names_the_judged_artifact(tmp_path):
    pair = tmp_path / "pair"
    pair.mkdir()
    (pair / "preprocess.tflite").write_bytes(b"p")
    (pair / "model.tflite").write_bytes(b"m")
    (pair / "compressed_model.json").write_text(
        json.dumps({"preprocess": "preprocess.tflite", "model": "model.tflite",
                    "inputs": {"age": "float32", "job": "string"}, "label_column": "risk"})
    )  # fmt: skip
    spec = read_serving_spec(str(pair))  # no serving.json: inferred, as for older versions
    assert spec.format == "tflite_pair" and spec.files == ["preprocess.tflite", "model.tflite"]
    (pair / "serving.json").write_text(spec.to_json())
    assert read_serving_spec(str(pair)) == spec
    (pair / "model.tflite").unlink()
    with pytest.raises(InputError, match="lacks \\['model.tflite'\\]"):
        read_serving_spec(str(pair))
    (pair / "serving.json").write_text(json.dumps({"format": "onnx", "files": [], "inputs": {}}))
    with pytest.raises(InputError, match="'onnx' is not one of"):
        read_serving_spec(str(pair))


class FakeApi:
    def __init__(self, create_status=None):
        self.create_status = create_status
        self.calls = []

    def create_namespaced_custom_object(self, group, version, namespace, plural, body):
        self.calls.append(("create", namespace, body))
        if self.create_status:
            err = RuntimeError("api error")
            err.status = self.create_status
            raise err

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body):
        self.calls.append(("patch", namespace, name, body))


def test_apply_creates_or_patches():
    manifest = kserve.inference_service(MODEL, "gs://b/reg/credit-risk", 2)
    api = FakeApi()
    assert kserve.apply(manifest, api) == "created"
    assert api.calls[0][1] == "default"  # outside a pod: the default namespace
    exists = FakeApi(create_status=409)
    assert (
        kserve.apply({**manifest, "metadata": {**manifest["metadata"], "namespace": "ml"}}, exists)
        == "patched"
    )
    _, namespace, name, body = exists.calls[1]
    assert (namespace, name) == ("ml", MODEL)
    assert body["spec"]["predictor"]["model"]["storageUri"] is None  # merge patch removes it
    with pytest.raises(RuntimeError, match="api error"):
        kserve.apply(manifest, FakeApi(create_status=403))


def test_fairness_rows_of_the_model_card():
    rows = model_card.fairness_rows(
        {
            "false_positive_rate_gap_personal_status@0.5": 0.1,
            "false_positive_rate_ratio_personal_status@0.5": 0.5,
            "positive_rate_gap_sex@0.3": 0.2,
            "positive_rate_gap_significant_sex@0.3": 1.0,
            "auc": 0.8,
        }
    )
    assert rows == [
        ("false_positive_rate", "personal_status", "0.5", 0.1, 0.5),
        ("positive_rate", "sex", "0.3", 0.2, None),
    ]


def test_model_card_shows_baseline_and_delta_beside_the_gap_not_as_metrics():
    fairness = {
        "auc": 0.81,
        "false_positive_rate_gap_sex@0.5": 0.08,
        "false_positive_rate_ratio_sex@0.5": 0.7,
        "false_positive_rate_gap_significant_sex@0.5": 0.0,
        "max_fairness_gap": 0.08,
        "baseline_false_positive_rate_gap_sex@0.5": 0.14,
        "delta_false_positive_rate_gap_sex@0.5": -0.06,
        "baseline_false_positive_rate_ratio_sex@0.5": 0.6,
        "delta_false_positive_rate_ratio_sex@0.5": 0.1,
        "baseline_max_fairness_gap": 0.14,
        "delta_max_fairness_gap": -0.06,
        "baseline_auc": 0.83,
        "delta_auc": -0.02,
    }
    assert model_card.fairness_rows(fairness) == [("false_positive_rate", "sex", "0.5", 0.08, 0.7)]
    blessing = BlessingRecord.from_dict(json.loads(json.dumps(BLESSING)))
    blessing.inputs["fairness"]["metrics"] = fairness
    card = model_card.render(
        model_card.CardFacts(MODEL, 2, "gs://b/reg/credit-risk/2", "2024-01-01T00:00:00", blessing)
    )
    section = card.split("## Fairness per slice")[1].split("\n## ")[0]
    assert "baseline_" not in section and "delta_" not in section
    assert "| baseline gap | gap change (candidate − baseline) |" in section
    assert "| false_positive_rate | sex | 0.5 | 0.08 | 0.7 | 0.14 | -0.06 |" in section
    assert "Largest gap over every slice: 0.08 (baseline model: 0.14)." in section
    # Without a baseline the table keeps its five columns.
    facts = model_card.CardFacts(MODEL, 1, "uri", "t", BLESSING_RECORD)
    card = model_card.render(facts)
    assert "baseline gap" not in card


# ----------------------------------------------------------------------------- canary


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, german_credit):
    """A tiny trained model saved twice: as trained, and with its weights shifted."""
    from greenkfp.components.training import trainer
    from greenkfp.components.training.export import save_model
    from greenkfp.components.training.model import infer_feature_spec

    root = tmp_path_factory.mktemp("tiny")
    df = german_credit.head(240)
    spec = infer_feature_spec(df, "risk", categorical=["job"])
    hparams = {"epochs": 1, "hidden_units": [4], "early_stopping_patience": 0}
    result = trainer.train(
        df[:200], df[200:], "risk", 1, hparams, spec, on_epoch_end=lambda e, logs: None
    )
    save_model(result, str(root / "a"))
    result.model.set_weights([w + 0.25 for w in result.model.get_weights()])
    save_model(result.model, str(root / "b"))
    eval_path = root / "eval.csv"
    df[200:].to_csv(eval_path, index=False)
    return root / "a", root / "b", eval_path


@pytest.mark.slow
def test_canary_verifies_the_pushed_copy_through_the_shared_predict_function(tmp_path, tiny_models):
    from greenkfp.components.deployment.canary import CanaryCheck, VerificationFailed

    model_a, model_b, eval_path = tiny_models
    blessing = tmp_path / "blessing.json"
    blessing.write_text(json.dumps(BLESSING))
    base = tmp_path / "registry"
    outcome = deploy((model_a, blessing, eval_path), base, canary_rows=16, verifier=None)
    assert outcome.deployed and outcome.canary["rows"] == 16
    assert outcome.canary["max_abs_diff"] <= 1e-6
    assert (base / MODEL / "1" / "saved_model.pb").exists()
    card = (base / MODEL / "1" / "model_card.md").read_text()
    assert "scored 16 eval rows" in card
    attributions = json.loads((base / MODEL / "1" / "attributions.json").read_text())
    ranked = [imp["feature"] for imp in attributions["global"]]
    spec = json.loads((model_a / "model_metadata.json").read_text())["feature_spec"]
    assert sorted(ranked) == sorted(spec["numeric"] + spec["categorical"])
    assert "## Feature attributions" in card and f"| {ranked[0]} |" in card

    # The pushed bytes differ from the candidate's: verification refuses, nothing is visible.
    import pandas as pd

    from greenkfp.components.deployment.registry import version_layout

    check = CanaryCheck(str(model_a), pd.read_csv(eval_path).head(16))
    reg = Registry(str(base))
    with pytest.raises(VerificationFailed, match="differ from the candidate's by up to"):
        reg.push(MODEL, version_layout(str(model_b)), verify=check)
    assert [v.version for v in reg.versions(MODEL)] == [1] and reg.live_version(MODEL) == 1
    assert reg.abandoned(MODEL) == []


DEPLOY_SCRIPT = """
import sys
from greenkfp.components.deployment.deploy_task import run_deploy_model
candidate, blessing, eval_data, base = sys.argv[1:5]
outcome = run_deploy_model(model_dir=candidate, blessing_path=blessing, eval_path=eval_data,
                           registry_uri=base, model_name="credit-risk",
                           verifier=lambda folder: None)
print(outcome.version)
"""


def test_sigkilled_deploy_process_leaves_no_partial_version(tmp_path, files):
    """The deploy logic in a process killed after the version is marked, before the rename."""
    import signal
    import subprocess
    import sys

    from greenkfp.components.deployment import registry

    base = tmp_path / "registry"
    deploy(files, base)  # version 1 is live
    args = [sys.executable, "-c", DEPLOY_SCRIPT, *map(str, files), str(base)]
    env = {**os.environ, registry.CRASH_ENV: "marked"}
    crashed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    reg = Registry(str(base))
    assert [v.version for v in reg.versions(MODEL)] == [1]
    assert sorted(p.name for p in (base / MODEL).iterdir() if p.name.isdigit()) == ["1"]
    assert reg.abandoned(MODEL)  # the staged copy, never visible
    assert reg.live_version(MODEL) == 1
    again = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert reg.live_version(MODEL) == int(again.stdout.split()[-1]) == 3
