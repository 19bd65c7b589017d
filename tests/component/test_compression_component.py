"""compress_model through ``.python_func`` with stand-in artifacts, fed by the session's
imported data and trained model."""

from pathlib import Path

import pandas as pd
import pytest
from helpers import EMBEDDED_DATA
from kfp import dsl
from stand_ins import StandIns

from greenkfp.components import compress_model
from greenkfp.components._shared.errors import InputError


def outputs(step: StandIns) -> dict:
    return {
        "compressed_model": step.output(dsl.Model, "compressed_model"),
        "metrics": step.output(dsl.Metrics, "metrics"),
        "report": step.output(dsl.HTML, "report"),
    }


@pytest.mark.slow
def test_compress_model_outputs(tmp_path, imported, trained):
    from greenkfp.components._shared.model_artifact import read_manifest
    from greenkfp.components._shared.predictor import load_predictor

    out = outputs(StandIns(tmp_path, "compress"))
    compress_model.python_func(
        model=StandIns.passed_on(trained.model),
        train_dataset=StandIns.passed_on(imported.train_dataset),
        eval_dataset=StandIns.passed_on(imported.eval_dataset),
        methods=["prune", "int8"],
        sparsity=0.5,
        fine_tune_epochs=1,
        latency_runs=50,
        country_iso_code="FRA",
        **out,
    )
    metrics = out["metrics"].metadata
    for key in ["size_ratio", "gzip_size_ratio", "accuracy_drop", "latency_speedup_p50"]:
        assert isinstance(metrics[key], float), key
    assert metrics["compressed_gzip_bytes"] < metrics["base_gzip_bytes"]
    assert metrics["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert metrics["energy_kwh"] > 0 and metrics["compressed_inference_energy_kwh_per_1k"] > 0
    model = out["compressed_model"].metadata
    assert model["methods"] == ["prune", "int8"]
    assert model["energy_method"] and model["country_iso_code"] == "FRA"
    model_dir = Path(out["compressed_model"].path)
    assert read_manifest(str(model_dir))["positive_label"] == "1"
    assert (model_dir / "saved_model" / "saved_model.pb").exists()
    assert (model_dir.parent / "codecarbon" / "emissions.csv").exists()
    report = Path(out["report"].path).read_text()
    assert "Base and compressed, side by side" in report and "<svg" in report
    assert "Energy and carbon of this step" in report

    rows = pd.read_csv(EMBEDDED_DATA).head(5)
    scores = load_predictor(str(model_dir))(rows)
    assert scores.shape == (5,) and ((scores >= 0) & (scores <= 1)).all()


def test_unknown_method_fails_the_step_clearly(tmp_path):
    """The settings are checked before any model or data is read."""
    absent = tmp_path / "absent"
    with pytest.raises(InputError, match=r"unknown compression method\(s\) \['zip'\]"):
        compress_model.python_func(
            model=StandIns.input(dsl.Model, absent / "model"),
            train_dataset=StandIns.input(dsl.Dataset, absent / "train"),
            eval_dataset=StandIns.input(dsl.Dataset, absent / "eval"),
            methods=["prune", "zip"],
            **outputs(StandIns(tmp_path, "compress")),
        )
