"""Kepler's cross-check against a fake Prometheus on 127.0.0.1 (the documented shape)."""

import time

import pytest
from fake_prometheus import POD, FakePrometheus, vector
from helpers import closed_port_url

from greenkfp.components._shared import kepler
from greenkfp.components._shared.metering import metered_step, publish


def outputs(tmp_path):
    """A step's Metrics and main artifact: real kfp.dsl objects on local paths."""
    from kfp import dsl

    metrics = dsl.Metrics(name="metrics", uri=str(tmp_path / "task" / "metrics"), metadata={})
    return metrics, dsl.Artifact(name="out", uri=str(tmp_path / "task" / "out"), metadata={})


def test_query_asks_for_the_pods_package_energy_over_the_window(prometheus):
    check = kepler.kepler_pod_energy(prometheus, POD, 1000.0, 1012.3)
    assert check == kepler.KeplerCheck(7200.0 / 3.6e6, kepler.STATUS_OK)
    ((path, params),) = FakePrometheus.queries
    assert path == "/api/v1/query" and params["time"] == ["1012.300"]
    assert params["query"] == [
        "sum(max without(state) (increase(kepler_pod_cpu_joules_total"
        f'{{pod_name="{POD}",zone="package"}}[13s])))'
    ]


def test_a_metered_step_records_keplers_figure_beside_codecarbons(
    prometheus, tmp_path, monkeypatch
):
    monkeypatch.setenv(kepler.PROMETHEUS_URL_ENV_VAR, prometheus)
    with metered_step(str(tmp_path / "task")) as reading:
        sum(range(10**6))
    metrics, artifact = outputs(tmp_path)
    publish(metrics, reading, artifact)
    assert metrics.metadata["kepler_energy_kwh"] == pytest.approx(7200.0 / 3.6e6)
    assert metrics.metadata["energy_kwh"] > 0  # codecarbon's, beside Kepler's
    assert artifact.metadata["kepler_status"] == "ok"


def test_the_parameter_wins_over_the_environment(prometheus, tmp_path, monkeypatch):
    monkeypatch.setenv(kepler.PROMETHEUS_URL_ENV_VAR, closed_port_url())
    with metered_step(str(tmp_path / "task"), prometheus_url=prometheus) as reading:
        pass
    assert reading.kepler_status == "ok" and len(FakePrometheus.queries) == 1


@pytest.mark.parametrize(
    "answer, status, reason",
    [
        (b"<html>gateway</html>", 200, "not JSON"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, 200, "vector"),
        ({"status": "success", "data": {"resultType": "vector", "result": "x"}}, 200, "list"),
        ({"status": "success", "data": {"resultType": "vector", "result": [{}]}}, 200, "value"),
        (vector("NaN"), 200, "not a finite energy"),
        (vector(None), 200, f"no Kepler series for the pod in the window (pod {POD!r})"),
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, 400, "parse error"),
        (b"", 503, "HTTP 503"),
        ("slow", 200, f"did not answer within {kepler.TIMEOUT_S:g} s"),
    ],
)
def test_garbage_or_errors_leave_the_step_succeeding_with_the_reason(
    prometheus, tmp_path, monkeypatch, answer, status, reason
):
    FakePrometheus.answer, FakePrometheus.status = answer, status
    monkeypatch.setenv(kepler.PROMETHEUS_URL_ENV_VAR, prometheus)
    with metered_step(str(tmp_path / "task")) as reading:
        pass
    metrics, artifact = outputs(tmp_path)
    publish(metrics, reading, artifact, {"rows": 3})
    assert "kepler_energy_kwh" not in metrics.metadata and metrics.metadata["rows"] == 3.0
    assert reason in artifact.metadata["kepler_status"]
    assert reading.energy_kwh > 0


def test_prometheus_down_is_recorded_not_raised(tmp_path, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv(kepler.PROMETHEUS_URL_ENV_VAR, url)
    monkeypatch.setenv(kepler.POD_NAME_ENV_VAR, POD)
    started = time.monotonic()
    with metered_step(str(tmp_path / "task")) as reading:
        pass
    assert time.monotonic() - started < 30
    assert reading.kepler_energy_kwh is None
    assert reading.kepler_status.startswith(f"Prometheus unreachable at {url}")


def test_not_configured_and_no_pod_name(tmp_path, monkeypatch):
    monkeypatch.delenv(kepler.PROMETHEUS_URL_ENV_VAR, raising=False)
    assert kepler.cross_check(0.0, 1.0) == kepler.KeplerCheck(None, kepler.STATUS_NOT_CONFIGURED)
    monkeypatch.delenv(kepler.POD_NAME_ENV_VAR, raising=False)
    check = kepler.cross_check(0.0, 1.0, "http://127.0.0.1:9")
    assert check.energy_kwh is None and "KFP_POD_NAME is unset" in check.status


def test_pod_names_are_quoted_in_the_query():
    query = kepler.pod_energy_query('a"b\\c', 0.2)
    assert 'pod_name="a\\"b\\\\c"' in query and "[1s]" in query
