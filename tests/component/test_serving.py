"""``greenkfp serve`` against a real registry: what it serves is what the gate judged.

The registry holds the session's compressed model, pushed twice by ``run_deploy_model``
(the deploy step's logic, canary check included); the server runs in a thread on
127.0.0.1, port 0.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from types import SimpleNamespace
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest
import yaml

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.predictor import load_predictor
from greenkfp.components._shared.step_keys import COMPRESSED_INFERENCE_ENERGY
from greenkfp.components.deployment.deploy_task import run_deploy_model
from greenkfp.components.deployment.registry import Registry
from greenkfp.pipelines.serving.server import PredictorServer

pytestmark = pytest.mark.slow

MODEL = "credit-risk"
ROWS = 40


def wait_for(predicate, timeout: float) -> bool:
    """Polls ``predicate`` until it holds or ``timeout`` seconds pass; returns whether it held."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def blessing_file(folder, compression_metrics) -> str:
    """An approved blessing that carries compress_model's figures, as the gate writes it."""
    record = {
        "approved": True,
        "reasons": [],
        "checks": [],
        "candidate_metrics": {},
        "policy": {},
        "live": None,
        "inputs": {"compression": {"uri": "compress/metrics", "metrics": compression_metrics}},
    }
    path = folder / "blessing.json"
    path.write_text(json.dumps(record))
    return str(path)


def push(registry_uri, model_dir, blessing, eval_path):
    return run_deploy_model(
        model_dir=model_dir,
        blessing_path=blessing,
        eval_path=eval_path,
        registry_uri=registry_uri,
        model_name=MODEL,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory, imported, compressed):
    """A registry with versions 1 and 2 of the compressed model; a server on LIVE (2)."""
    folder = tmp_path_factory.mktemp("serving")
    registry_uri = str(folder / "registry")
    figures = dict(compressed.metrics.metadata)
    blessing = blessing_file(folder, {**figures, "carbon_intensity_g_per_kwh": 400.0})
    model_dir = compressed.compressed_model.path
    eval_path = imported.eval_dataset.path
    outcomes = [push(registry_uri, model_dir, blessing, eval_path) for _ in range(2)]
    server = PredictorServer(registry_uri, MODEL, port=0, poll_seconds=0.05).start()
    rows = uri_io.read_dataset(eval_path).head(ROWS)
    yield SimpleNamespace(
        server=server,
        registry_uri=registry_uri,
        outcomes=outcomes,
        rows=rows,
        expected=load_predictor(model_dir)(rows),
        figures=figures,
    )
    server.stop()


def call(server, method, path, body=None, raw=None, headers=None):
    """One request; returns (status, parsed JSON or text, headers)."""
    url = urlparse(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    kind = response.getheader("Content-Type", "")
    return response.status, json.loads(text) if "json" in kind else text, response


def v2_request(rows: pd.DataFrame, label: str = "risk") -> dict:
    """One tensor per raw feature: BYTES for strings, INT64 or FP32 for numbers."""
    inputs = []
    for column in rows.columns.drop(label):
        values = rows[column]
        if values.dtype == object:
            datatype, data = "BYTES", values.tolist()
        elif np.issubdtype(values.dtype, np.integer):
            datatype, data = "INT64", [int(v) for v in values]
        else:
            datatype, data = "FP32", [None if pd.isna(v) else float(v) for v in values]
        inputs.append({"name": column, "shape": [len(rows)], "datatype": datatype, "data": data})
    return {"id": "r1", "inputs": inputs}


def v1_request(rows: pd.DataFrame, label: str = "risk") -> dict:
    features = rows.drop(columns=[label])
    return {"instances": json.loads(features.to_json(orient="records"))}


def test_the_version_serves_the_tflite_pair_and_the_manifest_runs_greenkfp(served):
    version = Registry(served.registry_uri).version_uri(MODEL, 2)
    names = set(uri_io.listdir(version))
    assert {"preprocess.tflite", "model.tflite", "serving.json"} <= names
    assert "saved_model.pb" not in names and "variables" not in names
    serving = json.loads(uri_io.read_bytes(f"{version}/serving.json"))
    assert serving["format"] == "tflite_pair"
    assert serving["files"] == ["preprocess.tflite", "model.tflite"]
    manifest = yaml.safe_load(uri_io.read_bytes(f"{version}/inferenceservice.yaml"))
    predictor = manifest["spec"]["predictor"]
    assert "model" not in predictor  # no modelFormat: tensorflow for a TFLite pair
    container = predictor["containers"][0]
    assert container["image"].startswith("ghcr.io/greenkfp/greenkfp:")
    assert container["args"][:5] == [
        "serve",
        "--registry",
        served.registry_uri,
        "--model-name",
        MODEL,
    ]
    assert manifest["metadata"]["annotations"]["prometheus.kserve.io/path"] == "/metrics"


def test_v2_infer_and_v1_predict_equal_the_pipeline_predictor(served):
    status, answer, response = call(
        served.server, "POST", f"/v2/models/{MODEL}/infer", v2_request(served.rows)
    )
    assert status == 200, answer
    assert answer["model_name"] == MODEL and answer["model_version"] == "2" and answer["id"] == "r1"
    output = answer["outputs"][0]
    assert output["name"] == "scores" and output["shape"] == [ROWS] and output["datatype"] == "FP32"
    np.testing.assert_allclose(output["data"], served.expected, rtol=0, atol=1e-6)
    assert response.getheader("X-Model-Version") == "2"

    status, answer, _ = call(
        served.server, "POST", f"/v1/models/{MODEL}:predict", v1_request(served.rows)
    )
    assert status == 200, answer
    np.testing.assert_allclose(answer["predictions"], served.expected, rtol=0, atol=1e-6)


def test_health_metadata_and_metrics(served):
    assert call(served.server, "GET", "/v2/health/live")[:2] == (200, {"live": True})
    assert call(served.server, "GET", "/v2/health/ready")[1]["ready"] is True
    status, metadata, _ = call(served.server, "GET", f"/v2/models/{MODEL}")
    assert status == 200 and metadata["platform"] == "greenkfp_tflite_pair"
    assert {"name": "job", "datatype": "BYTES", "shape": [-1]} in metadata["inputs"]
    before = call(served.server, "GET", "/metrics")[1]
    n = 5
    for _ in range(n):
        call(served.server, "POST", f"/v1/models/{MODEL}:predict", v1_request(served.rows.head(3)))
    call(served.server, "POST", f"/v1/models/{MODEL}:predict", {"instances": []})
    text = call(served.server, "GET", "/metrics")[1]

    def value(metrics_text, line_start):
        lines = [ln for ln in metrics_text.splitlines() if ln.startswith(line_start)]
        return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0

    ok = 'greenkfp_requests_total{model="credit-risk",route="v1_predict",code="200"}'
    bad = 'greenkfp_requests_total{model="credit-risk",route="v1_predict",code="400"}'
    assert value(text, ok) - value(before, ok) == n
    assert value(text, bad) - value(before, bad) == 1
    errors = 'greenkfp_request_errors_total{model="credit-risk",route="v1_predict"}'
    assert value(text, errors) - value(before, errors) == 1
    count = 'greenkfp_request_duration_seconds_count{model="credit-risk",route="v1_predict"}'
    assert value(text, count) - value(before, count) == n + 1
    assert "# TYPE greenkfp_request_duration_seconds histogram" in text
    assert 'le="+Inf"' in text
    predictions = 'greenkfp_predictions_total{model="credit-risk"}'
    assert value(text, predictions) - value(before, predictions) == 3 * n
    assert 'greenkfp_served_version{model="credit-risk",version="2",format="tflite_pair"} 1' in text
    energy = served.figures[COMPRESSED_INFERENCE_ENERGY]
    line = 'greenkfp_model_energy_kwh_per_1k_predictions{model="credit-risk",version="2"}'
    assert value(text, line) == pytest.approx(energy)
    sci = 'greenkfp_model_sci_g_co2eq_per_1k_predictions{model="credit-risk",version="2"}'
    assert value(text, sci) == pytest.approx(energy * 400.0)


@pytest.mark.parametrize(
    "path, raw, status, message",
    [
        (f"/v1/models/{MODEL}:predict", b"", 400, "body is empty"),
        (f"/v1/models/{MODEL}:predict", b"{not json", 400, "not valid JSON"),
        (f"/v1/models/{MODEL}:predict", b"[1, 2]", 400, "must be a JSON object"),
        (f"/v1/models/{MODEL}:predict", b'{"rows": []}', 400, "'instances'"),
        (f"/v2/models/{MODEL}/infer", b'{"inputs": {}}', 400, "'inputs'"),
        ("/v1/models/other:predict", b'{"instances": [{}]}', 404, "'other' is not served"),
        ("/v2/models/other/infer", b'{"inputs": []}', 404, "'other' is not served"),
        ("/nowhere", b"{}", 404, "no POST route"),
    ],
)
def test_bad_requests_get_a_clear_4xx(served, path, raw, status, message):
    got, answer, _ = call(served.server, "POST", path, raw=raw)
    assert got == status and message in answer["error"], answer
    assert call(served.server, "GET", "/v2/health/live")[0] == 200


def test_missing_feature_and_wrong_types_are_named(served):
    instance = v1_request(served.rows.head(1))["instances"][0]
    missing = {k: v for k, v in instance.items() if k != "age"}
    got, answer, _ = call(
        served.server, "POST", f"/v1/models/{MODEL}:predict", {"instances": [missing]}
    )
    assert got == 400 and "missing input 'age'" in answer["error"]
    wrong = {**instance, "age": "old"}
    got, answer, _ = call(
        served.server, "POST", f"/v1/models/{MODEL}:predict", {"instances": [wrong]}
    )
    assert got == 400 and "instances[0].age must be a number" in answer["error"]
    request = v2_request(served.rows.head(2))
    for tensor in request["inputs"]:
        if tensor["name"] == "age":
            tensor["datatype"] = "BYTES"
    got, answer, _ = call(served.server, "POST", f"/v2/models/{MODEL}/infer", request)
    assert got == 400 and "input 'age': datatype must be FP32" in answer["error"]
    request = v2_request(served.rows.head(2))
    request["inputs"][0]["shape"] = [3]
    got, answer, _ = call(served.server, "POST", f"/v2/models/{MODEL}/infer", request)
    assert got == 400 and "'shape' must be [2]" in answer["error"]


def test_an_oversized_body_is_refused(served):
    big = b'{"instances": [' + b" " * (10 * 1024 * 1024) + b"]}"
    got, answer, _ = call(served.server, "POST", f"/v1/models/{MODEL}:predict", raw=big)
    assert got == 413 and "limit" in answer["error"]
    assert call(served.server, "GET", "/v2/health/ready")[0] == 200


def test_a_rollback_while_requests_run_loses_none(served):
    body = v1_request(served.rows.head(4))
    results, stop = [], threading.Event()

    def client():
        while not stop.is_set():
            status, _, response = call(served.server, "POST", f"/v1/models/{MODEL}:predict", body)
            results.append((status, response.getheader("X-Model-Version")))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        assert wait_for(lambda: len(results) >= 20, timeout=30)
        Registry(served.registry_uri).rollback(MODEL)
        assert wait_for(lambda: served.server.follower.current.version == 1, timeout=30)
        seen = len(results)
        assert wait_for(lambda: len(results) >= seen + 20, timeout=30)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    assert {status for status, _ in results} == {200}
    versions = [v for _, v in results]
    assert versions[0] == "2" and versions[-1] == "1"
    metrics = call(served.server, "GET", "/metrics")[1]
    assert (
        'greenkfp_served_version{model="credit-risk",version="1",format="tflite_pair"} 1' in metrics
    )
    Registry(served.registry_uri).set_live(MODEL, 2)
    assert wait_for(lambda: served.server.follower.current.version == 2, timeout=30)


def test_no_live_version_is_not_ready_until_a_deploy(tmp_path, served, imported, compressed):
    registry_uri = str(tmp_path / "empty")
    server = PredictorServer(registry_uri, MODEL, port=0, poll_seconds=0.05).start()
    try:
        assert call(server, "GET", "/v2/health/live")[0] == 200
        status, answer, _ = call(server, "GET", "/v2/health/ready")
        assert status == 503 and answer["ready"] is False and "no LIVE version" in answer["reason"]
        status, answer, _ = call(
            server, "POST", f"/v1/models/{MODEL}:predict", v1_request(served.rows)
        )
        assert status == 503 and "not ready" in answer["error"]
        blessing = blessing_file(tmp_path, dict(compressed.metrics.metadata))
        push(registry_uri, compressed.compressed_model.path, blessing, imported.eval_dataset.path)
        assert wait_for(lambda: call(server, "GET", "/v2/health/ready")[0] == 200, timeout=30)
        status, answer, _ = call(
            server, "POST", f"/v1/models/{MODEL}:predict", v1_request(served.rows)
        )
        assert status == 200 and len(answer["predictions"]) == ROWS
    finally:
        server.stop()


def test_an_object_store_registry_is_served(tmp_path, served, imported, compressed):
    """ram:// goes through tf.io.gfile as gs:// does: the version is downloaded, then served."""
    registry_uri = f"ram://serving-{uuid.uuid4().hex}"
    blessing = blessing_file(tmp_path, dict(compressed.metrics.metadata))
    push(registry_uri, compressed.compressed_model.path, blessing, imported.eval_dataset.path)
    server = PredictorServer(registry_uri, MODEL, port=0, poll_seconds=0.05).start()
    try:
        body = v1_request(served.rows)
        status, answer, _ = call(server, "POST", f"/v1/models/{MODEL}:predict", body)
        assert status == 200, answer
        np.testing.assert_allclose(answer["predictions"], served.expected, rtol=0, atol=1e-6)
    finally:
        server.stop()
