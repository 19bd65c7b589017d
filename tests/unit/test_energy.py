"""Tests of the codecarbon energy meter (components/_shared/energy.py)."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

ENERGY_PY = Path(__file__).resolve().parents[2] / "components" / "_shared" / "energy.py"


def _load_energy_module():
    try:
        from greenkfp.components._shared import energy
    except ImportError:  # the package is not installed: load the file itself
        name = "greenkfp_energy_under_test"
        spec = importlib.util.spec_from_file_location(name, ENERGY_PY)
        energy = importlib.util.module_from_spec(spec)
        sys.modules[name] = energy
        spec.loader.exec_module(energy)
    return energy


energy = _load_energy_module()

METRIC_KEYS = {
    "duration_s",
    "energy_kwh",
    "cpu_energy_kwh",
    "gpu_energy_kwh",
    "ram_energy_kwh",
    "emissions_kg_co2eq",
    "carbon_intensity_g_per_kwh",
    "energy_kwh_low",
    "energy_kwh_high",
    "node_energy_kwh",
    "cpu_share",
    "memory_share",
    "cpu_tdp_w",
}
"""Kepler's ``kepler_energy_kwh`` is logged only when Kepler answered (see test_kepler.py)."""
METADATA_KEYS = {
    "energy_method",
    "country_iso_code",
    "region",
    "cpu_model",
    "gpu_model",
    "cpu_tdp_source",
    "kepler_status",
}


def _busy(seconds: float) -> int:
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def _grid_intensity(country: str) -> float:
    """Carbon intensity of a country straight from codecarbon's bundled data file."""
    import codecarbon

    path = Path(codecarbon.__file__).parent / "data" / "private_infra" / "global_energy_mix.json"
    return float(json.loads(path.read_text())[country]["carbon_intensity"])


def _method_is_documented(method: str) -> bool:
    cpu, *gpus = method.split("+")
    return cpu in energy.ENERGY_METHODS and all(g in energy._GPU_METHODS for g in gpus)


def _csv_rows(output_dir: Path) -> list[dict[str, str]]:
    path = output_dir / energy.CODECARBON_SUBDIR / energy.EMISSIONS_FILE_NAME
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(autouse=True)
def _no_country_env(monkeypatch):
    monkeypatch.delenv(energy.COUNTRY_ENV_VAR, raising=False)


def test_busy_loop_is_metered(tmp_path):
    t0 = time.perf_counter()
    with energy.energy_meter(str(tmp_path / "out")) as reading:
        assert reading.energy_kwh == 0.0  # filled only on exit
        t1 = time.perf_counter()
        _busy(2.5)
        t2 = time.perf_counter()
    t3 = time.perf_counter()

    assert t2 - t1 - 0.05 <= reading.duration_s <= t3 - t0 + 0.05
    assert reading.energy_kwh > 0
    assert reading.cpu_energy_kwh > 0
    assert reading.emissions_kg_co2eq > 0
    assert reading.energy_kwh == pytest.approx(
        reading.cpu_energy_kwh + reading.gpu_energy_kwh + reading.ram_energy_kwh, rel=1e-6
    )
    # Default country, and its grid intensity as codecarbon's data give it.
    assert reading.country_iso_code == energy.DEFAULT_COUNTRY_ISO_CODE == "USA"
    assert reading.region == ""
    assert reading.carbon_intensity_g_per_kwh == pytest.approx(_grid_intensity("USA"), rel=1e-6)
    assert reading.emissions_kg_co2eq == pytest.approx(
        reading.energy_kwh * reading.carbon_intensity_g_per_kwh / 1000, rel=1e-6
    )
    assert reading.energy_method and _method_is_documented(reading.energy_method)
    assert reading.energy_method != "unavailable"
    if not os.path.isdir("/sys/class/powercap/intel-rapl"):
        assert reading.energy_method.split("+")[0].endswith("_estimate")
    assert reading.cpu_model

    metrics = reading.metrics()
    assert set(metrics) == METRIC_KEYS
    assert all(type(v) is float for v in metrics.values())
    assert metrics["energy_kwh"] == reading.energy_kwh
    metadata = reading.metadata()
    assert set(metadata) == METADATA_KEYS
    assert all(isinstance(v, str) for v in metadata.values())
    assert reading.to_dict() == {**metrics, **metadata}  # None fields (no Kepler) left out
    assert 0 < reading.energy_kwh_low <= reading.energy_kwh <= reading.energy_kwh_high
    assert reading.energy_kwh <= reading.node_energy_kwh


def test_files_go_under_output_dir_never_to_cwd(tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "out"  # does not exist yet: the meter creates it

    with energy.energy_meter(str(out), project_name="files-test") as reading:
        _busy(0.3)

    assert list(cwd.iterdir()) == []
    cc_dir = out / energy.CODECARBON_SUBDIR
    names = sorted(p.name for p in cc_dir.iterdir())
    boamps = [n for n in names if n.startswith(energy.BOAMPS_FILE_PREFIX) and n.endswith(".json")]
    assert len(boamps) == 1
    assert sorted(set(names) - set(boamps)) == sorted(
        [energy.EMISSIONS_FILE_NAME, energy.LOG_FILE_NAME, energy.LOCK_FILE_NAME]
    )
    [row] = _csv_rows(out)
    assert row["project_name"] == "files-test"
    # codecarbon's row is the node's figure; the reading holds the process's share of it.
    assert float(row["energy_consumed"]) == pytest.approx(reading.node_energy_kwh, rel=1e-9)
    assert "offline tracker init" in (cc_dir / energy.LOG_FILE_NAME).read_text()


def test_codecarbon_console_stays_quiet(tmp_path, capfd):
    with energy.energy_meter(str(tmp_path / "out")):
        _busy(0.2)
    captured = capfd.readouterr()
    assert "codecarbon" not in captured.err + captured.out


def test_reading_is_filled_when_block_raises(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with energy.energy_meter(str(tmp_path / "out")) as reading:
            _busy(0.3)
            raise RuntimeError("boom")
    assert reading.duration_s >= 0.25
    assert reading.energy_kwh > 0
    assert reading.emissions_kg_co2eq > 0
    assert _method_is_documented(reading.energy_method)
    assert reading.energy_method != "unavailable"
    assert len(_csv_rows(tmp_path / "out")) == 1


def test_country_and_region_reach_codecarbon(tmp_path, monkeypatch):
    monkeypatch.setenv(energy.COUNTRY_ENV_VAR, "fra")
    with energy.energy_meter(str(tmp_path / "fr")) as fr:
        _busy(0.2)
    assert fr.country_iso_code == "FRA"
    assert fr.carbon_intensity_g_per_kwh == pytest.approx(_grid_intensity("FRA"), rel=1e-6)
    assert fr.carbon_intensity_g_per_kwh != pytest.approx(_grid_intensity("USA"), rel=1e-3)

    with energy.energy_meter(
        str(tmp_path / "ca"), country_iso_code="USA", region="California"
    ) as ca:
        _busy(0.2)
    assert (ca.country_iso_code, ca.region) == ("USA", "california")
    assert ca.carbon_intensity_g_per_kwh > 0
    # California's regional mix, not the national average.
    assert ca.carbon_intensity_g_per_kwh != pytest.approx(_grid_intensity("USA"), rel=1e-3)
    assert _csv_rows(tmp_path / "fr")[0]["country_iso_code"] == "FRA"


def test_country_resolution_order(monkeypatch):
    assert energy.resolve_country(None) == "USA"
    assert energy.resolve_country("") == "USA"
    monkeypatch.setenv(energy.COUNTRY_ENV_VAR, "deu")
    assert energy.resolve_country(None) == "DEU"
    assert energy.resolve_country("  ") == "DEU"
    assert energy.resolve_country("fra") == "FRA"
    assert energy.resolve_country(" CAN ") == "CAN"
    monkeypatch.setenv(energy.COUNTRY_ENV_VAR, "")
    assert energy.resolve_country(None) == energy.DEFAULT_COUNTRY_ISO_CODE


@pytest.mark.parametrize("bad", ["US", "FRANCE", "12A", "U-S", "ZZZ"])
def test_bad_country_is_rejected_and_named(bad, tmp_path):
    with pytest.raises(ValueError, match=repr(bad)):
        energy.resolve_country(bad)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="country_iso_code"):
        with energy.energy_meter(str(out), country_iso_code=bad):
            pytest.fail("the block must not run")
    assert not out.exists()


def test_bad_country_from_env_names_the_variable(monkeypatch):
    monkeypatch.setenv(energy.COUNTRY_ENV_VAR, "XX")
    with pytest.raises(ValueError, match=f"{energy.COUNTRY_ENV_VAR}='XX'"):
        energy.resolve_country(None)


def test_energy_method_maps_codecarbon_hardware(tmp_path):
    from codecarbon.external.hardware import CPU as CodecarbonCPU
    from codecarbon.external.ram import RAM

    # Real codecarbon objects for the modes this machine can build without hardware.
    ram = RAM(tracking_mode="machine")
    load = CodecarbonCPU.from_utils(str(tmp_path), "cpu_load", "Some CPU", 65)
    table_tdp = CodecarbonCPU.from_utils(str(tmp_path), "constant", "Some CPU", 65)
    generic_tdp = CodecarbonCPU.from_utils(str(tmp_path), "constant", "Some CPU")
    assert energy._energy_method([ram, load]) == "cpu_load_estimate"
    assert energy._energy_method([ram, table_tdp]) == "tdp_estimate"
    assert energy._energy_method([ram, generic_tdp]) == "constant_estimate"
    assert energy._energy_method([ram]) == "unknown"

    # Counter-based modes need the hardware: stand-ins named like codecarbon's classes.
    class CPU:
        def __init__(self, mode):
            self._mode = mode

    class NvidiaGPUDevice:
        pass

    class AMDGPUDevice:
        pass

    class GPU:
        def __init__(self, *devices):
            self.devices = SimpleNamespace(devices=list(devices))

    assert energy._energy_method([ram, CPU("intel_rapl")]) == "rapl"
    assert energy._energy_method([ram, CPU("windows_emi")]) == "rapl"
    assert energy._energy_method([ram, CPU("intel_power_gadget")]) == "intel_power_gadget"
    two_gpus = GPU(NvidiaGPUDevice(), NvidiaGPUDevice())
    assert energy._energy_method([ram, CPU("intel_rapl"), two_gpus]) == "rapl+nvml"
    assert energy._energy_method([ram, load, GPU(AMDGPUDevice())]) == "cpu_load_estimate+amdsmi"
    assert energy._energy_method([ram, load, GPU()]) == "cpu_load_estimate"


def test_importing_the_module_does_not_import_codecarbon():
    code = textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("energy_probe", {str(ENERGY_PY)!r})
        module = importlib.util.module_from_spec(spec)
        sys.modules["energy_probe"] = module
        spec.loader.exec_module(module)
        module.resolve_country("fra")
        assert "codecarbon" not in sys.modules, "codecarbon was imported"
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# One child process: meters a busy loop while its sibling meters too (a file barrier
# makes both trackers run at the same time), then prints its reading as JSON.
_CHILD = textwrap.dedent(
    """
    import importlib.util, json, os, sys, time
    energy_py, out_dir, barrier_dir, me, other = sys.argv[1:6]
    spec = importlib.util.spec_from_file_location("energy_child", energy_py)
    energy = importlib.util.module_from_spec(spec)
    sys.modules["energy_child"] = energy
    spec.loader.exec_module(energy)
    with energy.energy_meter(out_dir, project_name=me) as reading:
        open(os.path.join(barrier_dir, me), "w").close()
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(barrier_dir, other)):
            if time.time() > deadline:
                sys.exit("sibling never started metering")
            time.sleep(0.01)
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            pass
    print(json.dumps(reading.to_dict()))
    """
)


def test_two_meters_in_parallel_processes_do_not_collide(tmp_path):
    out = tmp_path / "shared-out"  # both processes write to the same folder
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    # A stale codecarbon global lock, as left by a crashed or concurrent codecarbon:
    # with codecarbon's default locking a tracker that finds it measures nothing.
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    (tmpdir / ".codecarbon.lock").touch()
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    env.pop(energy.COUNTRY_ENV_VAR, None)

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(ENERGY_PY), str(out), str(barrier), me, other],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for me, other in (("run-a", "run-b"), ("run-b", "run-a"))
    ]
    try:
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr
    readings = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in results]

    for reading in readings:
        assert reading["energy_kwh"] > 0
        assert reading["emissions_kg_co2eq"] > 0
        assert reading["duration_s"] >= 0.95
        assert _method_is_documented(reading["energy_method"])
        assert reading["energy_method"] != "unavailable"
    assert readings[0] != readings[1]

    rows = _csv_rows(out)
    assert sorted(r["project_name"] for r in rows) == ["run-a", "run-b"]
    assert len({r["run_id"] for r in rows}) == 2
    by_project = {r["project_name"]: float(r["energy_consumed"]) for r in rows}
    # Each row is codecarbon's node figure of its own run.
    assert by_project["run-a"] == pytest.approx(readings[0]["node_energy_kwh"], rel=1e-9)
    assert by_project["run-b"] == pytest.approx(readings[1]["node_energy_kwh"], rel=1e-9)
    # codecarbon's global lock was neither taken nor removed; nothing else went there.
    assert [p.name for p in tmpdir.iterdir()] == [".codecarbon.lock"]
