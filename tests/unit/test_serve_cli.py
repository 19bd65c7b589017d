"""``greenkfp serve``'s arguments, and its protocol parsing without a model (no TensorFlow)."""

import pytest

from greenkfp.pipelines.cli import main
from greenkfp.pipelines.serving import protocol
from greenkfp.pipelines.serving.protocol import RequestError

INPUTS = {"age": "float32", "job": "string", "credit_amount": "float32"}


def test_an_invalid_model_name_exits_with_status_2(tmp_path, capsys):
    assert main(["serve", "--registry", str(tmp_path), "--model-name", "Bad_Name"]) == 2
    assert "model name 'Bad_Name' is not valid" in capsys.readouterr().err


def test_v1_and_v2_bodies_become_the_same_raw_rows():
    v1 = protocol.v1_rows(
        {"instances": [{"age": 30, "job": 2, "credit-amount": 1000.5, "risk": "good"}]}, INPUTS
    )
    v2 = protocol.v2_rows(
        {
            "inputs": [
                {"name": "age", "datatype": "INT64", "shape": [1], "data": [30]},
                {"name": "job", "datatype": "BYTES", "shape": [1], "data": ["2"]},
                {"name": "credit-amount", "datatype": "FP32", "shape": [1], "data": [1000.5]},
            ]
        },
        INPUTS,
    )
    # Columns match model inputs by name or by sanitized name, as in the pipeline.
    assert list(v1.columns) == ["age", "job", "credit-amount"]
    assert v1.iloc[0].tolist() == [30, 2, 1000.5] and v2.iloc[0].tolist() == [30, "2", 1000.5]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"instances": [{"age": 1, "job": "a"}]}, "missing input 'credit_amount'"),
        ({"instances": [{"age": True, "job": "a", "credit_amount": 1}]}, "age must be a number"),
        ({"instances": [{"age": 1, "job": [1], "credit_amount": 1}]}, "job must be a string"),
        ({"instances": ["x"]}, "instances[0] must be an object"),
        ({"instances": {}}, "field 'instances'"),
    ],
)
def test_bad_v1_bodies_name_the_field(body, message):
    with pytest.raises(RequestError) as err:
        protocol.v1_rows(body, INPUTS)
    assert err.value.status == 400 and message in err.value.message


def test_bad_v2_tensors_name_the_field():
    tensors = [
        {"name": "age", "datatype": "FP32", "shape": [2], "data": [1, 2]},
        {"name": "job", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]},
        {"name": "credit_amount", "datatype": "FP32", "shape": [1], "data": [1]},
    ]
    with pytest.raises(RequestError) as err:
        protocol.v2_rows({"inputs": tensors}, INPUTS)
    assert "input 'credit_amount' has 1 values, other inputs 2" in err.value.message
    tensors[2] = {"name": "credit_amount", "datatype": "FP32", "shape": [2], "data": [1, "x"]}
    with pytest.raises(RequestError) as err:
        protocol.v2_rows({"inputs": tensors}, INPUTS)
    assert "input 'credit_amount'[1] must be a number" in err.value.message
    for raw, message in [(b"", "body is empty"), (b"{", "not valid JSON"), (b"3", "object")]:
        with pytest.raises(RequestError) as err:
            protocol.parse_json(raw)
        assert err.value.status == 400 and message in err.value.message


def test_serve_with_no_live_version_is_live_not_ready_and_stops_on_sigterm(tmp_path):
    import http.client
    import json
    import re
    import signal
    import subprocess
    import sys

    command = [sys.executable, "-m", "greenkfp", "serve", "--registry", str(tmp_path)]
    process = subprocess.Popen(
        [*command, "--model-name", "credit-risk", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        host, port = re.search(r"at http://([\d.]+):(\d+)", process.stdout.readline()).groups()
        answers = {}
        for path in ("/v2/health/live", "/v2/health/ready"):
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("GET", path)
            response = conn.getresponse()
            answers[path] = (response.status, json.loads(response.read()))
            conn.close()
        assert answers["/v2/health/live"] == (200, {"live": True})
        status, body = answers["/v2/health/ready"]
        assert status == 503 and "no LIVE version of 'credit-risk'" in body["reason"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
