"""The process's share of the node's energy, its bound, and the estimate's parameters."""

import glob
import json
import time

import pytest

from greenkfp.components._shared import energy_attribution as ea
from greenkfp.components._shared.energy import BOAMPS_FILE_PREFIX, energy_meter
from greenkfp.components._shared.metering import metered_step, publish

USAGE = ea.ProcessUsage(
    cpu_seconds=3.0,
    node_busy_cpu_seconds=4.0,
    mean_rss_bytes=1e9,
    node_memory_bytes=20e9,
)


def node(method="cpu_load_estimate", generic=False, gpu=0.0):
    return ea.NodeEnergy(
        cpu_kwh=4e-6, gpu_kwh=gpu, ram_kwh=1e-5, cpu_method=method, tdp_w=8.0, tdp_generic=generic
    )


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(1000))


def test_cpu_follows_the_cpu_time_share_and_ram_the_memory_share():
    a = ea.attribute(node(), USAGE)
    assert a.cpu_share == 0.75 and a.memory_share == 0.05
    assert a.cpu_kwh == pytest.approx(4e-6 * 0.75)
    assert a.ram_kwh == pytest.approx(1e-5 * 0.05)
    assert a.energy_kwh == pytest.approx(a.cpu_kwh + a.ram_kwh)
    assert a.node_kwh == pytest.approx(1.4e-5) and a.energy_kwh < a.node_kwh
    assert a.tdp_w == 8.0 and a.tdp_source == ea.TDP_FROM_TABLE
    # Known TDP: CPU 0.5 to 1.25; RAM 0.5 to 2.
    assert a.low_kwh == pytest.approx(0.5 * a.cpu_kwh + 0.5 * a.ram_kwh)
    assert a.high_kwh == pytest.approx(1.25 * a.cpu_kwh + 2.0 * a.ram_kwh)


@pytest.mark.parametrize(
    "method, generic, cpu_bound",
    [
        ("rapl", False, ea.MEASURED_BOUND),
        ("cpu_load_estimate", False, ea.KNOWN_TDP_BOUND),
        ("tdp_estimate", True, ea.GENERIC_TDP_BOUND),
        ("unknown", False, ea.GENERIC_TDP_BOUND),
    ],
)
def test_bounds_follow_the_method_and_are_ordered(method, generic, cpu_bound):
    a = ea.attribute(node(method, generic, gpu=2e-6), USAGE)
    assert a.low_kwh <= a.energy_kwh <= a.high_kwh
    parts = (
        (a.cpu_kwh, cpu_bound),
        (a.gpu_kwh, ea.MEASURED_BOUND),
        (a.ram_kwh, ea.RAM_ESTIMATE_BOUND),
    )
    assert a.low_kwh == pytest.approx(sum(v * b[0] for v, b in parts))
    assert a.high_kwh == pytest.approx(sum(v * b[1] for v, b in parts))
    assert a.gpu_kwh == 2e-6  # NVML's figure, the step's own GPUs
    if method == "rapl":
        assert a.tdp_w == 0.0 and a.tdp_source == ea.TDP_NOT_USED
    # Counters are narrower than a TDP estimate.
    assert (a.high_kwh - a.low_kwh) / a.energy_kwh < 3.0


def test_user_tdp_and_memory_share_replace_codecarbons():
    a = ea.attribute(node(), USAGE, tdp_w=80.0, memory_share=0.25)
    assert a.tdp_w == 80.0 and a.tdp_source == ea.TDP_FROM_USER
    assert a.cpu_kwh == pytest.approx(4e-6 * 10 * 0.75)  # node CPU rescaled to 80 W
    assert a.node_kwh == pytest.approx(4e-5 + 1e-5)
    assert a.ram_kwh == pytest.approx(1e-5 * 0.25) and a.memory_share == 0.25
    measured = ea.attribute(node("rapl"), USAGE, tdp_w=80.0)
    assert measured.cpu_kwh == pytest.approx(4e-6 * 0.75)  # counters ignore the TDP


@pytest.mark.parametrize("value", ["0", "0.5", "2001", "-40", "1e9", "nan", "hot"])
def test_tdp_out_of_range_is_a_clear_error_naming_the_variable(monkeypatch, tmp_path, value):
    monkeypatch.setenv(ea.CPU_TDP_ENV_VAR, value)
    with pytest.raises(ValueError, match=f"{ea.CPU_TDP_ENV_VAR}='{value}'") as err:
        with metered_step(str(tmp_path / "task")):
            pytest.fail("the block must not run")
    assert "out of range" in str(err.value) or "not a number" in str(err.value)
    assert not (tmp_path / "task").exists()  # nothing measured, nothing written


def test_tdp_and_share_arguments_are_checked_too(tmp_path):
    with pytest.raises(
        ValueError, match="cpu_tdp_w=5000.0 is out of range: a CPU TDP is 1 to 2000 W"
    ):
        with energy_meter(str(tmp_path), cpu_tdp_w=5000.0):
            pass
    with pytest.raises(ValueError, match=r"memory_share=1.5 is out of range"):
        with energy_meter(str(tmp_path), memory_share=1.5):
            pass
    assert ea.resolve_cpu_tdp(120) == 120.0 and ea.resolve_memory_share(0.1) == 0.1


def test_the_sampler_sees_the_process_work_and_memory():
    sampler = ea.ProcessSampler()
    sampler.start()
    end = time.process_time() + 0.6  # CPU time, whatever else the machine runs
    while time.process_time() < end:
        sum(range(1000))
    usage = sampler.stop()
    assert 0.55 < usage.cpu_seconds < 5.0
    assert usage.node_busy_cpu_seconds >= usage.cpu_seconds * 0.8
    assert 0 < usage.cpu_share <= 1 and 0 < usage.memory_share < 1
    assert usage.mean_rss_bytes > 0


def test_publish_carries_the_bound_the_node_and_the_method(tmp_path, monkeypatch):
    from kfp import dsl

    monkeypatch.setenv(ea.CPU_TDP_ENV_VAR, "120")
    metrics = dsl.Metrics(name="metrics", uri=str(tmp_path / "step" / "metrics"), metadata={})
    model = dsl.Model(name="model", uri=str(tmp_path / "step" / "model"), metadata={})
    with metered_step(str(tmp_path / "step")) as reading:
        busy(0.5)
    publish(metrics, reading, model, {"auc": 0.8})
    m = metrics.metadata
    assert 0 < m["energy_kwh_low"] <= m["energy_kwh"] <= m["energy_kwh_high"]
    assert m["energy_kwh"] <= m["node_energy_kwh"]
    assert m["energy_kwh"] == pytest.approx(
        m["cpu_energy_kwh"] + m["gpu_energy_kwh"] + m["ram_energy_kwh"]
    )
    assert 0 < m["cpu_share"] <= 1 and 0 < m["memory_share"] < 1
    assert m["emissions_kg_co2eq"] == pytest.approx(
        m["energy_kwh"] * m["carbon_intensity_g_per_kwh"] / 1e3
    )
    assert model.metadata["energy_method"]
    if model.metadata["energy_method"].endswith("_estimate"):  # this VM: no RAPL
        assert m["cpu_tdp_w"] == 120.0 and model.metadata["cpu_tdp_source"] == ea.CPU_TDP_ENV_VAR
    assert model.metadata["kepler_status"].startswith("not configured")


def test_boamps_report_is_kept_with_codecarbons_files(tmp_path):
    with metered_step(str(tmp_path / "step")) as reading:
        busy(0.2)
    (path,) = glob.glob(str(tmp_path / "step" / "codecarbon" / f"{BOAMPS_FILE_PREFIX}*.json"))
    report = json.loads(open(path, encoding="utf-8").read())
    (measure,) = report["measures"]
    assert measure["measurementMethod"] == "codecarbon"
    # codecarbon's own figure: the node's, not the step's share.
    assert measure["powerConsumption"] == pytest.approx(reading.node_energy_kwh, rel=1e-6)
