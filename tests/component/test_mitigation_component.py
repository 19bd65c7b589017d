"""mitigate_fairness through ``.python_func``, and per-group thresholds from gate to serving.

On the session's compressed model: a remedy that cannot meet the policy leaves the model
refused by the gate, with the reason; a thresholds model scores the same through
``load_predictor`` (evaluation), the registry and ``greenkfp serve``.
"""

import http.client
import json
import shutil
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from kfp import dsl
from stand_ins import StandIns

from greenkfp.components import evaluate_fairness, evaluate_gate, mitigate_fairness
from greenkfp.components._shared import group_thresholds
from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.predictor import load_predictor
from greenkfp.components.deployment.deploy_task import run_deploy_model
from greenkfp.pipelines.serving.server import PredictorServer

pytestmark = pytest.mark.slow

UNREACHABLE = """
max_fairness_gap:
  false_negative_rate: {sex: 0.0}
  false_positive_rate: {sex: 0.0}
  positive_rate: {sex: 0.0}
mitigation: auto
"""


@pytest.fixture(scope="module")
def fairness(tmp_path_factory, imported, compressed):
    step = StandIns(tmp_path_factory.mktemp("fairness"), "evaluate-fairness")
    out = dict(
        metrics=step.output(dsl.Metrics, "metrics"),
        classification_metrics=step.output(dsl.ClassificationMetrics, "classification_metrics"),
        tfma_output=step.output(dsl.Artifact, "tfma_output"),
        report=step.output(dsl.HTML, "report"),
    )
    evaluate_fairness.python_func(
        model=StandIns.passed_on(compressed.compressed_model),
        eval_dataset=StandIns.passed_on(imported.eval_dataset),
        label_column="risk",
        sensitive_features=["sex", "age"],
        feature_buckets={"age": [25, 40, 60]},
        **out,
    )
    return out


def test_a_remedy_that_cannot_meet_the_policy_leaves_the_model_refused(
    tmp_path, imported, trained, compressed, fairness
):
    step = StandIns(tmp_path, "mitigate-fairness")
    out = dict(
        mitigated_model=step.output(dsl.Model, "mitigated_model"),
        mitigation=step.output(dsl.Artifact, "mitigation"),
        metrics=step.output(dsl.Metrics, "metrics"),
        report=step.output(dsl.HTML, "report"),
    )
    mitigate_fairness.python_func(
        model=StandIns.passed_on(compressed.compressed_model),
        eval_dataset=StandIns.passed_on(imported.eval_dataset),
        train_dataset=StandIns.passed_on(imported.train_dataset),
        fairness_output=StandIns.passed_on(fairness["tfma_output"]),
        fairness_metrics=StandIns.passed_on(fairness["metrics"]),
        trained_model=StandIns.passed_on(trained.model),
        label_column="risk",
        policy=UNREACHABLE,
        country_iso_code="DEU",
        **out,
    )
    record = json.loads(Path(out["mitigation"].path).read_text())
    assert record["mitigation"] == "none" and record["mitigation_requested"] == "auto"
    assert record["mitigation_reason"].startswith("no remedy brought every gated gap")
    assert [a["outcome"] for a in record["mitigation_attempts"]] == [
        "failed",
        "refused",
        "refused",
    ]
    gaps = {g["key"]: g for g in record["mitigation_gaps"]}
    fnr = gaps["false_negative_rate_gap_sex@0.5"]
    # The gap before is the one the fairness step measured (same rows, model, slicing).
    assert fnr["before"]["gap"] == pytest.approx(
        fairness["metrics"].metadata["false_negative_rate_gap_sex@0.5"], abs=1e-6
    )
    assert fnr["before"]["low"] <= fnr["before"]["gap"] <= fnr["before"]["high"]
    assert out["mitigation"].metadata["mitigation"] == "none"
    assert out["metrics"].metadata["mitigation_applied"] == 0.0
    assert out["metrics"].metadata["energy_kwh"] > 0
    # The model leaves unchanged: no thresholds, the same scores.
    assert not Path(group_thresholds.path_in(out["mitigated_model"].path)).exists()
    assert "Fairness mitigation" in Path(out["report"].path).read_text()

    gate = StandIns(tmp_path, "evaluate-gate")
    blessing = gate.output(dsl.Artifact, "blessing")
    evaluate_gate.python_func(
        blessing=blessing,
        summary=gate.output(dsl.Markdown, "summary"),
        metrics=gate.output(dsl.Metrics, "metrics"),
        policy=UNREACHABLE,
        fairness_metrics=StandIns.passed_on(out["metrics"]),
    )
    verdict = json.loads(Path(blessing.path).read_text())
    assert verdict["approved"] is False
    assert any("false_negative_rate" in r and "sex" in r for r in verdict["reasons"])


def call(url, path, body):
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    conn.request("POST", path, body=json.dumps(body).encode())
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, json.loads(text)


def test_thresholds_apply_identically_in_evaluation_registry_and_serving(
    tmp_path, imported, compressed
):
    model_dir = tmp_path / "mitigated"
    shutil.copytree(compressed.compressed_model.path, model_dir)
    spec = group_thresholds.GroupThresholds("sex", {"female": 0.3, "male": 0.7})
    group_thresholds.write(str(model_dir), spec)
    rows = uri_io.read_dataset(imported.eval_dataset.path).head(40)
    raw = load_predictor(compressed.compressed_model.path)(rows)
    evaluated = load_predictor(str(model_dir))(rows)
    cuts = np.where(rows["sex"] == "female", 0.3, 0.7)
    assert ((evaluated > 0.5) == (raw > cuts)).all() and not np.allclose(evaluated, raw)

    blessing = tmp_path / "blessing.json"
    blessing.write_text(
        json.dumps(
            {"approved": True, "reasons": [], "checks": [], "candidate_metrics": {}, "policy": {}}
        )
    )
    registry = str(tmp_path / "registry")
    outcome = run_deploy_model(
        model_dir=str(model_dir),
        blessing_path=str(blessing),
        eval_path=imported.eval_dataset.path,
        registry_uri=registry,
        model_name="credit-risk",
    )
    assert outcome.deployed, outcome.reasons
    version = Path(outcome.pushed_uri)
    assert group_thresholds.read(str(version)) == spec
    card = (version / "model_card.md").read_text()
    assert "The sensitive feature sex is needed at prediction time" in card
    mct = json.loads((version / "model_card.json").read_text())
    limits = [x["description"] for x in mct["considerations"]["limitations"]]
    assert any("sensitive feature sex is needed at prediction time" in x for x in limits)
    np.testing.assert_allclose(load_predictor(str(version))(rows), evaluated, atol=1e-6)

    server = PredictorServer(registry, "credit-risk", port=0, poll_seconds=0.05).start()
    try:
        features = rows.drop(columns=["risk"])
        body = {"instances": json.loads(features.to_json(orient="records"))}
        status, answer = call(server.url, "/v1/models/credit-risk:predict", body)
        assert status == 200, answer
        np.testing.assert_allclose(answer["predictions"], evaluated, atol=1e-6)
        without = {
            "instances": json.loads(features.drop(columns=["sex"]).to_json(orient="records"))
        }
        status, answer = call(server.url, "/v1/models/credit-risk:predict", without)
        # Here sex is also a model input; either way the refusal names it.
        assert status == 400 and "'sex'" in answer["error"]
    finally:
        server.stop()
