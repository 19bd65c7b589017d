"""compress_model through kfp.local, fed by import_csv and train_model."""

from pathlib import Path

import pytest
from kfp import dsl

from greenkfp.components import compress_model, import_csv, train_model
from greenkfp.pipelines.runners.local import run_locally

pytestmark = pytest.mark.slow


@dsl.pipeline(name="compress-model-test")
def train_and_compress(data_uri: str):
    data = import_csv(data_uri=data_uri, label_column="risk")
    trained = train_model(
        train_dataset=data.outputs["train_dataset"],
        eval_dataset=data.outputs["eval_dataset"],
        label_column="risk",
        categorical_features=["job"],
        epochs=4,
        hidden_units=[32, 16],
    )
    compress_model(
        model=trained.outputs["model"],
        train_dataset=data.outputs["train_dataset"],
        eval_dataset=data.outputs["eval_dataset"],
        methods=["prune", "int8"],
        sparsity=0.5,
        fine_tune_epochs=1,
        latency_runs=50,
        country_iso_code="FRA",
    )


def test_compress_model_outputs(tmp_path):
    from helpers import EMBEDDED_DATA

    from greenkfp.components._shared.model_artifact import read_manifest
    from greenkfp.components._shared.predictor import load_predictor

    summary = run_locally(
        train_and_compress,
        {"data_uri": str(EMBEDDED_DATA)},
        tmp_path / "run",
        progress=lambda line: None,
    )
    assert summary.status == "succeeded", summary.error
    step = summary.steps[-1]
    assert step.name == "compress-model"
    metrics = step.outputs["metrics"]["metadata"]
    for key in ["size_ratio", "gzip_size_ratio", "accuracy_drop", "latency_speedup_p50"]:
        assert isinstance(metrics[key], float), key
    assert metrics["compressed_gzip_bytes"] < metrics["base_gzip_bytes"]
    assert metrics["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert metrics["energy_kwh"] > 0 and metrics["compressed_inference_energy_kwh_per_1k"] > 0
    model = step.outputs["compressed_model"]
    assert model["metadata"]["methods"] == ["prune", "int8"]
    assert model["metadata"]["energy_method"] and model["metadata"]["country_iso_code"] == "FRA"
    model_dir = Path(model["uri"])
    assert read_manifest(str(model_dir))["positive_label"] == "1"
    assert (model_dir / "saved_model" / "saved_model.pb").exists()
    report = Path(step.outputs["report"]["uri"]).read_text()
    assert "Base and compressed, side by side" in report and "<svg" in report
    import pandas as pd

    rows = pd.read_csv(EMBEDDED_DATA).head(5)
    scores = load_predictor(str(model_dir))(rows)
    assert scores.shape == (5,) and ((scores >= 0) & (scores <= 1)).all()


def test_unknown_method_fails_the_step_clearly(tmp_path):
    from helpers import EMBEDDED_DATA

    @dsl.pipeline(name="compress-bad-method")
    def bad(data_uri: str):
        data = import_csv(data_uri=data_uri, label_column="risk")
        trained = train_model(
            train_dataset=data.outputs["train_dataset"],
            eval_dataset=data.outputs["eval_dataset"],
            label_column="risk",
            epochs=1,
        )
        compress_model(
            model=trained.outputs["model"],
            train_dataset=data.outputs["train_dataset"],
            eval_dataset=data.outputs["eval_dataset"],
            methods=["prune", "zip"],
        )

    summary = run_locally(
        bad, {"data_uri": str(EMBEDDED_DATA)}, tmp_path / "run", progress=lambda line: None
    )
    assert summary.status == "failed" and summary.failed_step == "compress-model"
    assert "unknown compression method(s) ['zip']" in summary.error
