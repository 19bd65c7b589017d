"""Compression logic: methods on the embedded data, the auto budget, the predictor, bad input."""

import json
import os

import numpy as np
import pytest

from greenkfp.components._shared.errors import InputError
from greenkfp.components.compression.config import CompressionConfig, parse_methods
from greenkfp.components.compression.task import Candidate, choose

# Quick settings: the figures are real, only fewer of them.
FAST = dict(
    fine_tune_epochs=2,
    latency_runs=20,
    latency_warmup=2,
    energy_predictions=50,
    energy_min_seconds=0.0,
)


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "methods, message",
    [
        (["prune", "magic"], "unknown compression method(s) ['magic']"),
        (["int8", "prune"], "out of order"),
        (["int8", "dynamic"], "choose one post-training quantization"),
        (["prune", "prune"], "repeat"),
        (["qat", "float16"], "does not combine with 'float16'"),
        (["auto", "int8"], "'auto' runs alone"),
        ([], "no compression method"),
    ],
)
def test_bad_method_lists_are_refused(methods, message):
    with pytest.raises(InputError) as err:
        parse_methods(methods)
    assert message in str(err.value)


def test_methods_parse_in_order_and_from_commas():
    assert parse_methods(["Prune,QAT", "int8"]) == ["prune", "qat", "int8"]
    assert parse_methods("auto") == ["auto"]


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5, "lots"])
def test_sparsity_outside_unit_interval_is_refused(sparsity):
    with pytest.raises(InputError, match=r"sparsity must be .*\[0, 1\)"):
        CompressionConfig(methods=["prune"], sparsity=sparsity)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"max_accuracy_drop": 2.0}, "max_accuracy_drop must be in [0, 1]"),
        ({"schedule": "cosine"}, "unknown pruning schedule 'cosine'"),
        ({"fine_tune_epochs": 0}, "fine_tune_epochs must be a positive integer"),
        ({"auto_quantizations": ["int4"]}, "auto needs"),
        ({"colour": "green"}, "unknown compression settings ['colour']"),
    ],
)
def test_bad_settings_are_refused(values, message):
    with pytest.raises(InputError) as err:
        CompressionConfig.from_dict(values)
    assert message in str(err.value)


def _candidate(name, gzip_bytes, accuracy_drop, auc_drop, within):
    cand = Candidate(name, [], 0.0, b"", None, total_bytes=gzip_bytes, gzip_bytes=gzip_bytes)
    cand.accuracy_drop, cand.auc_drop, cand.within_budget = accuracy_drop, auc_drop, within
    return cand


def test_choose_keeps_the_smallest_within_budget():
    cands = [
        _candidate("big-ok", 900, 0.0, 0.0, True),
        _candidate("small-ok", 500, 0.005, 0.002, True),
        _candidate("tiny-bad", 100, 0.08, 0.03, False),
    ]
    assert choose(cands).name == "small-ok"


def test_choose_falls_back_to_least_loss_when_none_is_within_budget():
    cands = [_candidate("a", 100, 0.05, 0.04, False), _candidate("b", 300, 0.03, 0.02, False)]
    assert choose(cands).name == "b"


# ----------------------------------------------------------------------------- on the model


@pytest.fixture(scope="module")
def trained(tmp_path_factory, german_credit):
    """A small model trained on 800 rows of the embedded data, and its train/eval CSVs."""
    from greenkfp.components.training import trainer
    from greenkfp.components.training.export import save_model
    from greenkfp.components.training.model import infer_feature_spec

    root = tmp_path_factory.mktemp("compression")
    train_df, eval_df = german_credit.iloc[:800], german_credit.iloc[800:]
    train_path, eval_path = root / "train.csv", root / "eval.csv"
    train_df.to_csv(train_path, index=False)
    eval_df.to_csv(eval_path, index=False)
    spec = infer_feature_spec(train_df, "risk", categorical=["job"])
    hparams = {"epochs": 8, "hidden_units": [32, 16], "seed": 7}
    result = trainer.train(
        train_df,
        eval_df,
        "risk",
        "1",
        hparams,
        feature_spec=spec,
        on_epoch_end=lambda epoch, logs: None,
    )
    save_model(result, str(root / "model"))
    return {
        "root": root,
        "model": str(root / "model"),
        "train": str(train_path),
        "eval": str(eval_path),
        "eval_df": eval_df,
        "keras_scores": result.eval_scores,
    }


def paths(trained, output_dir, model_dir: str = "", train_path: str = "") -> dict[str, str]:
    """``run_compress_model``'s paths: the trained model and data unless given others."""
    return {
        "model_dir": model_dir or trained["model"],
        "train_path": train_path or trained["train"],
        "eval_path": trained["eval"],
        "output_dir": str(output_dir),
    }


def _compress(trained, name, **settings):
    from greenkfp.components.compression.task import run_compress_model

    out = trained["root"] / name
    outcome = run_compress_model(
        **paths(trained, out),
        config=CompressionConfig.from_dict({**FAST, **settings}),
        log=lambda s: None,
    )
    return outcome, str(out)


METRIC_KEYS = [
    "base_bytes",
    "compressed_bytes",
    "size_ratio",
    "base_gzip_bytes",
    "compressed_gzip_bytes",
    "gzip_size_ratio",
    "sparsity",
    "base_accuracy",
    "compressed_accuracy",
    "accuracy_drop",
    "base_auc",
    "compressed_auc",
    "auc_drop",
    "base_latency_p50_ms",
    "base_latency_p95_ms",
    "compressed_latency_p50_ms",
    "compressed_latency_p95_ms",
    "latency_speedup_p50",
    "base_inference_energy_kwh_per_1k",
    "compressed_inference_energy_kwh_per_1k",
    "inference_energy_ratio",
    "latency_threads",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "methods",
    [["prune"], ["qat"], ["dynamic"], ["int8"], ["float16"], ["prune", "qat", "int8"]],
    ids="+".join,
)
def test_each_method_compresses_and_predicts_from_raw_rows(trained, methods):
    from greenkfp.components._shared.binary_metrics import binary_metrics
    from greenkfp.components._shared.predictor import load_predictor

    outcome, out = _compress(trained, "+".join(methods), methods=methods, sparsity=0.6)
    m = outcome.figures
    for key in METRIC_KEYS:
        assert key in m and np.isfinite(m[key]), key
    assert m["base_latency_p50_ms"] > 0 and m["compressed_inference_energy_kwh_per_1k"] > 0
    assert m["size_ratio"] == pytest.approx(m["base_bytes"] / m["compressed_bytes"])
    # The base figures are the trained Keras model's, through float32 TFLite.
    base = binary_metrics(
        (trained["eval_df"]["risk"] == 1).astype(int).to_numpy(), trained["keras_scores"]
    )
    assert m["base_accuracy"] == pytest.approx(base["accuracy"], abs=1e-9)
    assert m["base_auc"] == pytest.approx(base["auc"], abs=1e-4)

    manifest = json.loads((open(os.path.join(out, "compressed_model.json"))).read())
    assert manifest["methods"] == methods
    assert os.path.isfile(os.path.join(out, "model.tflite"))
    keras_level = "prune" in methods or "qat" in methods
    assert os.path.isdir(os.path.join(out, "saved_model")) == keras_level
    if "prune" in methods:
        assert m["sparsity"] == pytest.approx(0.6, abs=0.02)
    if any(q in methods for q in ("dynamic", "int8", "qat")):
        assert m["compressed_gzip_bytes"] < m["base_gzip_bytes"] * 0.75

    # The shared predict function scores raw rows of the shipped artifact, label and all.
    scores = load_predictor(out)(trained["eval_df"])
    assert scores.shape == (len(trained["eval_df"]),)
    labels = (trained["eval_df"]["risk"] == 1).astype(int).to_numpy()
    assert binary_metrics(labels, scores)["accuracy"] == pytest.approx(m["compressed_accuracy"])


@pytest.mark.slow
def test_int8_agrees_with_float_model_on_most_rows(trained):
    outcome, _ = _compress(trained, "int8-agreement", methods=["int8"])
    # Measured: 0.99-1.00 of the 200 eval rows get the same decision at 0.5.
    assert outcome.figures["prediction_agreement"] >= 0.95


@pytest.mark.slow
def test_auto_keeps_the_smallest_candidate_within_the_drop_budget(trained):
    outcome, _ = _compress(
        trained,
        "auto",
        methods=["auto"],
        auto_sparsities=[0.0, 0.5, 0.95],
        auto_quantizations=["int8", "dynamic"],
        max_accuracy_drop=0.01,
        max_auc_drop=0.01,
    )
    cands = outcome.candidates
    assert len(cands) == 6 and outcome.figures["candidates_tried"] == 6
    for c in cands:  # the budget verdict follows the figures
        inside = c["accuracy_drop"] <= 0.01 + 1e-12 and c["auc_drop"] <= 0.01 + 1e-12
        assert c["within_budget"] == inside
    within = [c for c in cands if c["within_budget"]]
    assert within, "the unpruned candidates stay within a 1-point budget"
    kept = next(c for c in cands if c["name"] == outcome.chosen)
    assert kept["gzip_bytes"] == min(c["gzip_bytes"] for c in within)
    assert outcome.figures["accuracy_drop"] <= 0.01 + 1e-12
    assert outcome.figures["within_budget"] == 1.0


@pytest.mark.slow
def test_report_shows_both_models_and_every_candidate(trained):
    from greenkfp.components.compression.report import render_compress_model

    outcome, _ = _compress(
        trained, "report", methods=["auto"], auto_sparsities=[0.5], auto_quantizations=["int8"]
    )
    page = render_compress_model(
        outcome, {"energy_kwh": 1e-5, "energy_method": "cpu_load_estimate"}
    )
    assert "Base and compressed, side by side" in page and "Candidates" in page
    assert page.count("<circle") == len(outcome.candidates)
    assert "cpu_load_estimate" in page and "http" not in page.replace('xmlns="http', "")


# ----------------------------------------------------------------------------- bad input


@pytest.mark.slow
def test_a_model_that_is_not_keras_is_refused(trained, tmp_path):
    from greenkfp.components.compression.task import run_compress_model

    bogus = tmp_path / "model"
    bogus.mkdir()
    meta = json.loads((open(os.path.join(trained["model"], "model_metadata.json"))).read())
    (bogus / "model_metadata.json").write_text(json.dumps(meta))
    (bogus / "keras_model.keras").write_bytes(b"this is not a model")
    with pytest.raises(InputError, match="cannot load .*keras_model.keras as a Keras 2 model"):
        run_compress_model(**paths(trained, tmp_path / "out", model_dir=str(bogus)))
    (bogus / "keras_model.keras").unlink()
    with pytest.raises(InputError, match="holds no keras_model.keras"):
        run_compress_model(**paths(trained, tmp_path / "out", model_dir=str(bogus)))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_empty_data_and_empty_representative_rows_are_refused(trained, tmp_path):
    from greenkfp.components._shared.model_artifact import load_keras_model
    from greenkfp.components.compression import optimize, stages
    from greenkfp.components.compression.task import run_compress_model

    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(trained["eval_df"].columns) + "\n")
    with pytest.raises(InputError, match="the train dataset .* has no rows"):
        run_compress_model(**paths(trained, tmp_path / "out", train_path=str(empty)))
    _, core = stages.split_model(load_keras_model(trained["model"]))
    with pytest.raises(InputError, match="int8 quantization needs representative data"):
        optimize.to_tflite(core, "int8", np.zeros((0, core.input_shape[-1]), np.float32))


@pytest.mark.slow
def test_a_model_without_a_features_layer_is_refused():
    import tf_keras

    from greenkfp.components.compression.stages import split_model

    inp = tf_keras.Input(shape=(3,), name="x")
    model = tf_keras.Model(inp, tf_keras.layers.Dense(1, name="score")(inp))
    with pytest.raises(InputError, match="no layer named 'features'"):
        split_model(model)
    with pytest.raises(InputError, match="expected a tf_keras model"):
        split_model(object())


@pytest.mark.slow
def test_predictor_rejects_corrupt_or_foreign_folders(trained, tmp_path):
    from greenkfp.components._shared.predictor import load_predictor

    with pytest.raises(InputError, match="does not exist"):
        load_predictor(str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="not a model written by train_model or compress_model"):
        load_predictor(str(tmp_path))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "compressed_model.json").write_text(
        json.dumps({"preprocess": "p.tflite", "model": "m.tflite", "inputs": {}})
    )
    (broken / "p.tflite").write_bytes(b"garbage")
    (broken / "m.tflite").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a loadable TFLite model"):
        load_predictor(str(broken))
    # A train_model output goes through its SavedModel.
    scores = load_predictor(trained["model"])(trained["eval_df"])
    np.testing.assert_allclose(scores, trained["keras_scores"], atol=1e-5)
