"""decide_retraining through ``.python_func`` against a real registry; skipped steps.

A live version is deployed once per module (the session's trained and compressed model,
with its training statistics, schema, sample and energy kept); each test then judges
new data against it.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from kfp import dsl
from stand_ins import StandIns

from greenkfp.components import (
    decide_retraining,
    deploy_model,
    evaluate_gate,
    generate_statistics,
    infer_schema,
    train_model,
)
from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.registry_reading import (
    DRIFT_REFERENCE_FILE,
    PIPELINE_ENERGY_FILE,
    SCHEMA_FILE,
    TRAIN_STATISTICS_FILE,
    RegistryReader,
)
from greenkfp.components._shared.retrain_decision import RetrainDecision

pytestmark = pytest.mark.slow
MODEL = "credit-risk"


def run(component, folder: StandIns, outputs: dict, **arguments) -> SimpleNamespace:
    out = SimpleNamespace(**{name: folder.output(kind, name) for name, kind in outputs.items()})
    out.returned = component.python_func(**vars(out), **arguments)
    return out


def statistics_of(tmp_path: Path, name: str, df: pd.DataFrame) -> SimpleNamespace:
    """Writes ``df`` as a dataset and runs generate_statistics on it."""
    folder = StandIns(tmp_path, name)
    dataset = folder.output(dsl.Dataset, "dataset")
    uri_io.write_dataset(df, dataset.path)
    stats = run(
        generate_statistics,
        folder,
        {"statistics": dsl.Artifact, "report": dsl.HTML, "metrics": dsl.Metrics},
        dataset=StandIns.passed_on(dataset),
    )
    return SimpleNamespace(dataset=dataset, statistics=stats.statistics, metrics=stats.metrics)


def deploy(tmp_path, name, imported, compressed, keep: bool) -> str:
    """Gates and deploys the compressed model into a new registry; keeps its data or not."""
    registry_uri = str(tmp_path / name)
    gate = run(
        evaluate_gate,
        StandIns(tmp_path, f"{name}-gate"),
        {"blessing": dsl.Artifact, "summary": dsl.Markdown, "metrics": dsl.Metrics},
        policy="min_auc: 0.5",
        compression_metrics=StandIns.passed_on(compressed.metrics),
        registry_uri=registry_uri,
        model_name=MODEL,
    )
    kept = {}
    if keep:
        train = statistics_of(
            tmp_path, f"{name}-stats", uri_io.read_dataset(imported.train_dataset.path)
        )
        schema = run(
            infer_schema,
            StandIns(tmp_path, f"{name}-schema"),
            {"schema": dsl.Artifact, "metrics": dsl.Metrics},
            statistics=StandIns.passed_on(train.statistics),
            categorical_features=["job"],
        )
        kept = {
            "train_statistics": StandIns.passed_on(train.statistics),
            "schema": StandIns.passed_on(schema.schema),
            "train_dataset": StandIns.passed_on(imported.train_dataset),
            "import_metrics": StandIns.passed_on(imported.metrics),
            "train_statistics_metrics": StandIns.passed_on(train.metrics),
            "compression_metrics": StandIns.passed_on(compressed.metrics),
            "gate_metrics": StandIns.passed_on(gate.metrics),
        }
    pushed = run(
        deploy_model,
        StandIns(tmp_path, f"{name}-deploy"),
        {
            "deployment": dsl.Artifact,
            "inference_service": dsl.Artifact,
            "summary": dsl.Markdown,
            "metrics": dsl.Metrics,
        },
        model=StandIns.passed_on(compressed.compressed_model),
        blessing=StandIns.passed_on(gate.blessing),
        eval_dataset=StandIns.passed_on(imported.eval_dataset),
        registry_uri=registry_uri,
        model_name=MODEL,
        canary_rows=8,
        **kept,
    )
    assert pushed.returned.deployed is True
    return registry_uri


@pytest.fixture(scope="module")
def live(tmp_path_factory, imported, compressed) -> SimpleNamespace:
    tmp_path = tmp_path_factory.mktemp("live")
    registry_uri = deploy(tmp_path, "registry", imported, compressed, keep=True)
    train = uri_io.read_dataset(imported.train_dataset.path)
    return SimpleNamespace(
        tmp_path=tmp_path,
        registry_uri=registry_uri,
        train=train,
        same=statistics_of(tmp_path, "same", train),
    )


def decide(tmp_path, new, registry_uri, eval_dataset=None, **arguments) -> SimpleNamespace:
    outputs = {"decision": dsl.Artifact, "report": dsl.HTML, "metrics": dsl.Metrics}
    return run(
        decide_retraining,
        StandIns(tmp_path, "decide"),
        outputs,
        statistics=StandIns.passed_on(new.statistics),
        dataset=StandIns.passed_on(new.dataset),
        eval_dataset=eval_dataset,
        registry_uri=registry_uri,
        model_name=MODEL,
        label_column="risk",
        **arguments,
    )


def test_the_version_keeps_statistics_schema_sample_and_pipeline_energy(live, imported):
    reader = RegistryReader(live.registry_uri)
    assert reader.live_version(MODEL) == 1
    for name in (TRAIN_STATISTICS_FILE, SCHEMA_FILE, DRIFT_REFERENCE_FILE):
        assert reader.has_file(MODEL, 1, name)
    sample = pd.read_csv(Path(reader.version_uri(MODEL, 1)) / DRIFT_REFERENCE_FILE)
    assert sorted(sample.columns) == ["age", "credit_amount", "duration"]  # job: categorical
    assert len(sample) == 800
    energy = reader.read_json(MODEL, 1, PIPELINE_ENERGY_FILE)
    steps = {"import_csv", "statistics_train", "compress_model", "evaluate_gate"}
    assert set(energy["steps"]) == steps
    assert energy["total_kwh"] == pytest.approx(sum(energy["steps"].values()))
    assert energy["total_kwh"] > 0


def test_same_data_skips_with_every_reason_and_figure(live, imported):
    out = decide(
        live.tmp_path / "same",
        live.same,
        live.registry_uri,
        StandIns.passed_on(imported.eval_dataset),
    )
    assert out.returned.retrain is False
    record = RetrainDecision.read(out.decision.path)
    assert record.retrain is False and record.live_version == 1
    assert record.live_pipeline_energy_kwh > 0
    assert [r.split(":")[0] for r in record.reasons] == ["no drift"] * 4 + ["no quality drop"]
    assert {d["test"] for d in record.drift} == {"psi", "ks", "jensen_shannon", "l_infinity"}
    assert (
        abs(record.quality["drop"]) < 0.005
    )  # the live model on the very eval rows it was judged on
    assert out.metrics.metadata["retrain"] == 0.0 and out.metrics.metadata["max_psi"] == 0.0
    assert out.decision.metadata["reasons"] == record.reasons
    page = Path(out.report.path).read_text()
    assert "Retraining decision: SKIP RETRAINING" in page and "no quality drop" in page
    assert "Energy avoided: <b>" in page  # the live version's energy less this step's


def test_shifted_data_retrains_naming_the_drifted_features(live):
    shifted = live.train.assign(
        credit_amount=live.train["credit_amount"] * 3, age=live.train["age"] + 15
    )
    new = statistics_of(live.tmp_path, "shifted", shifted)
    out = decide(live.tmp_path / "shifted", new, live.registry_uri)
    assert out.returned.retrain is True
    record = RetrainDecision.read(out.decision.path)
    drifted = {(d["feature"], d["test"]) for d in record.drift if d["drifted"]}
    assert {("credit_amount", "psi"), ("credit_amount", "ks"), ("age", "psi")} <= drifted
    assert all(r.startswith(("drift: ", "no quality drop", "quality drop")) for r in record.reasons)
    assert any(r.startswith("drift: credit_amount: psi ") for r in record.reasons)
    assert out.metrics.metadata["retrain"] == 1.0 and out.metrics.metadata["drifted_features"] >= 2


def test_quality_drop_without_drift_retrains(live, imported):
    flipped = uri_io.read_dataset(imported.eval_dataset.path)
    flipped["risk"] = 1 - flipped["risk"]
    eval_folder = StandIns(live.tmp_path, "flipped")
    eval_dataset = eval_folder.output(dsl.Dataset, "eval_dataset")
    uri_io.write_dataset(flipped, eval_dataset.path)
    out = decide(
        live.tmp_path / "flipped",
        live.same,
        live.registry_uri,
        StandIns.passed_on(eval_dataset),
        sensitive_features=["sex", "age"],
        feature_buckets={"age": [25.0, 40.0, 60.0]},
    )
    record = RetrainDecision.read(out.decision.path)
    assert out.returned.retrain is True
    assert not any(d["drifted"] for d in record.drift)
    assert record.reasons[-3].startswith("quality drop: live AUC ")
    assert record.quality["drop"] > 0.2
    # Fairness on the new data is reported beside the quality, not decided on.
    assert [f["feature"] for f in record.quality["fairness"]] == ["sex", "age"]
    assert all(0 <= f["on_new_data"] <= 1 for f in record.quality["fairness"])
    assert record.reasons[-1].startswith("fairness (reported, not a retrain criterion): ")
    assert "Fairness of the live model on the new data" in Path(out.report.path).read_text()


def test_an_empty_registry_trains_the_first_model(live, tmp_path):
    out = decide(tmp_path, live.same, str(tmp_path / "empty-registry"))
    assert out.returned.retrain is True
    record = RetrainDecision.read(out.decision.path)
    assert record.reasons == [
        f"no live version of '{MODEL}' in {tmp_path / 'empty-registry'}: training one"
    ]
    assert record.live_version is None and out.metrics.metadata["retrain"] == 1.0


def test_a_live_version_without_statistics_retrains_saying_so(live, imported, compressed, tmp_path):
    registry_uri = deploy(tmp_path, "bare", imported, compressed, keep=False)
    out = decide(tmp_path, live.same, registry_uri)
    assert out.returned.retrain is True
    (reason,) = RetrainDecision.read(out.decision.path).reasons
    assert reason.startswith("live version 1 keeps no training statistics to judge drift")
    assert f"{registry_uri}/{MODEL}/1/{TRAIN_STATISTICS_FILE}" in reason


def test_corrupt_stored_statistics_fail_naming_the_file(live, imported, compressed, tmp_path):
    registry_uri = deploy(tmp_path, "corrupt", imported, compressed, keep=True)
    stats = Path(registry_uri) / MODEL / "1" / TRAIN_STATISTICS_FILE
    stats.write_bytes(b"\x0a\xff\xff not a proto")
    with pytest.raises(InputError, match=f"cannot read statistics at {stats}"):
        decide(tmp_path, live.same, registry_uri)


def test_steps_told_not_to_retrain_finish_at_once_and_deploy_writes_nothing(
    live, imported, tmp_path
):
    decision = StandIns(tmp_path, "decide").output(dsl.Artifact, "decision")
    record = RetrainDecision(retrain=False, reasons=["no drift: largest age: psi 0 <= 0.25"])
    Path(decision.path).write_text(record.to_json())
    trained = run(
        train_model,
        StandIns(tmp_path, "train"),
        {
            "model": dsl.Model,
            "metrics": dsl.Metrics,
            "classification_metrics": dsl.ClassificationMetrics,
            "report": dsl.HTML,
        },
        train_dataset=StandIns.passed_on(imported.train_dataset),
        eval_dataset=StandIns.passed_on(imported.eval_dataset),
        label_column="risk",
        decision=StandIns.passed_on(decision),
    )
    reason = "no retraining: no drift: largest age: psi 0 <= 0.25"
    assert trained.model.metadata == {
        "status": "skipped",
        "skip_reason": reason,
        **{k: v for k, v in trained.model.metadata.items() if k not in ("status", "skip_reason")},
    }
    assert trained.metrics.metadata["skipped"] == 1.0 and "energy_kwh" in trained.metrics.metadata
    assert json.loads(Path(trained.model.path).read_text())["status"] == "skipped"
    assert "<h1>Skipped</h1>" in Path(trained.report.path).read_text()

    registry_uri = str(tmp_path / "untouched")
    pushed = run(
        deploy_model,
        StandIns(tmp_path, "deploy"),
        {
            "deployment": dsl.Artifact,
            "inference_service": dsl.Artifact,
            "summary": dsl.Markdown,
            "metrics": dsl.Metrics,
        },
        model=StandIns.passed_on(trained.model),
        blessing=StandIns.passed_on(decision),  # never read when skipped
        eval_dataset=StandIns.passed_on(imported.eval_dataset),
        registry_uri=registry_uri,
        model_name=MODEL,
        decision=StandIns.passed_on(decision),
    )
    assert tuple(pushed.returned) == (False, 0, "")
    assert pushed.deployment.metadata["status"] == "skipped"
    assert not Path(registry_uri).exists()
