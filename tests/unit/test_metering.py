import os

import pytest

from greenkfp.components._shared.energy import BOAMPS_FILE_PREFIX
from greenkfp.components._shared.metering import metered_step, publish, record_energy, step_dir


class FakeMetrics:
    def __init__(self):
        self.metadata = {}

    def log_metric(self, name, value):
        self.metadata[name] = value


class FakeArtifact:
    def __init__(self):
        self.metadata = {}


def busy(seconds: float) -> None:
    import time

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(1000))


def test_metered_step_records_and_keeps_files_in_the_step_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "task"
    with metered_step(str(out), country_iso_code="FRA") as reading:
        busy(1.0)
    metrics, artifact = FakeMetrics(), FakeArtifact()
    record_energy(reading, metrics, artifact)
    assert metrics.metadata["energy_kwh"] > 0 and metrics.metadata["duration_s"] >= 1.0
    assert all(isinstance(v, float) for v in metrics.metadata.values())
    assert artifact.metadata["country_iso_code"] == "FRA"
    assert artifact.metadata["energy_method"]
    names = sorted(os.listdir(out / "codecarbon"))
    assert names[1:] == ["codecarbon.log", "emissions.csv"]
    assert names[0].startswith(BOAMPS_FILE_PREFIX) and names[0].endswith(".json")
    assert sorted(os.listdir(tmp_path)) == ["task"]  # nothing in the working directory


def test_files_are_kept_when_the_work_fails(tmp_path):
    out = tmp_path / "task"
    with pytest.raises(RuntimeError, match="boom"):
        with metered_step(str(out)) as reading:
            busy(0.2)
            raise RuntimeError("boom")
    assert reading.duration_s > 0
    assert (out / "codecarbon" / "emissions.csv").exists()


def test_publish_logs_figures_energy_and_metadata_on_real_kfp_artifacts(tmp_path):
    from kfp import dsl

    metrics = dsl.Metrics(name="metrics", uri=str(tmp_path / "step" / "metrics"), metadata={})
    model = dsl.Model(name="model", uri=str(tmp_path / "step" / "model"), metadata={})
    with metered_step(step_dir(metrics), country_iso_code="FRA") as reading:
        busy(0.2)
    publish(metrics, reading, model, {"auc": 0.8, "rows": 3}, {"label_column": "risk"})
    assert metrics.metadata["auc"] == 0.8 and metrics.metadata["rows"] == 3.0
    assert metrics.metadata["energy_kwh"] > 0 and metrics.metadata["duration_s"] >= 0.2
    assert all(isinstance(v, float) for v in metrics.metadata.values())
    assert model.metadata["label_column"] == "risk" and model.metadata["country_iso_code"] == "FRA"
    assert (tmp_path / "step" / "codecarbon" / "emissions.csv").exists()
