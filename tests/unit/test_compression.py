"""Compression logic: methods on the embedded data, the auto budget, the predictor, bad input."""

import json
import os

import numpy as np
import pytest

from greenkfp.components._shared.errors import InputError
from greenkfp.components.compression import budget, measure
from greenkfp.components.compression.config import CompressionConfig, parse_methods
from greenkfp.components.compression.task import Candidate

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
        ({"objective": "speed"}, "unknown objective 'speed'"),
        ({"max_accuracy_drop": -0.01}, "max_accuracy_drop must be in [0, 1]"),
        ({"max_auc_drop": 1.5}, "max_auc_drop must be in [0, 1]"),
        ({"budget_alpha": 0.7}, "budget_alpha must be in (0, 0.5)"),
        ({"serving_batch_size": 0}, "serving_batch_size must be a positive integer"),
    ],
)
def test_bad_settings_are_refused(values, message):
    with pytest.raises(InputError) as err:
        CompressionConfig.from_dict(values)
    assert message in str(err.value)


def test_auto_grid_tries_float32_and_every_quantization_alone():
    grid = CompressionConfig(auto_sparsities=[0.0, 0.5], auto_quantizations=["int8"]).auto_grid()
    assert grid == [
        ([], 0.0),
        (["dynamic"], 0.0),
        (["int8"], 0.0),
        (["float16"], 0.0),
        (["prune", "int8"], 0.5),
    ]


def _candidate(name, gzip_bytes, energy, within=True, latency=1.0):
    cand = Candidate(name, [], 0.0, b"", None, total_bytes=gzip_bytes, gzip_bytes=gzip_bytes)
    cand.within_budget = within
    cand.serving = {
        "energy_kwh_per_1k": energy,
        "batch_energy_kwh_per_1k": energy / 10,
        "latency_p50_ms": latency,
        "batch_latency_p50_ms": latency * 5,
    }
    return cand


BASE = _candidate("base", 1000, 2.0)


def test_auto_never_ships_an_over_budget_candidate():
    cands = [
        _candidate("float32", 1000, 2.0),
        _candidate("tiny-frugal-but-worse", 100, 0.5, within=False),
        _candidate("ok", 500, 1.5),
        _candidate("ok-but-costlier", 400, 2.5),
    ]
    chosen, fallback = budget.choose(cands, BASE, "energy")
    assert (chosen.name, fallback) == ("ok", False)
    # "ok-but-costlier" is smaller: size picks it, since it is within budget.
    assert budget.choose(cands, BASE, "size")[0].name == "ok-but-costlier"
    assert all(budget.choose(cands, BASE, o)[0].within_budget for o in budget.OBJECTIVE_FIGURES)


def test_no_compression_that_pays_ships_the_float32_fallback():
    cands = [
        _candidate("float32", 1000, 2.0),
        _candidate("int8", 300, 2.2),  # within budget, but costs more energy than the base
        _candidate("prune0.8+int8", 100, 0.4, within=False),
    ]
    half = _candidate("half", 600, 1.0)
    half.serving["batch_energy_kwh_per_1k"] = 0.3  # worse than the base at the serving batch
    chosen, fallback = budget.choose([*cands, half], BASE, "energy")
    assert (chosen.name, fallback) == ("float32", True)
    with pytest.raises(ValueError, match="no 'float32' candidate"):
        budget.choose(cands[1:], BASE, "energy")


def test_paired_drop_bounds_the_loss_from_discordant_rows():
    labels = np.array([1, 0] * 100)
    base = labels.astype(float)  # right on every row
    same = budget.paired_drop(labels, base, base.copy())
    assert (same.drop, same.upper, same.p_value) == (0.0, 0.0, 1.0)
    two_wrong = base.copy()
    two_wrong[:2] = 1 - two_wrong[:2]
    two = budget.paired_drop(labels, base, two_wrong)
    assert two.drop == pytest.approx(0.01) and two.upper == pytest.approx(0.01)
    # The demo's case: 2.5 points lost on 200 rows (7 rows against, 2 for).
    labels_mixed = labels.copy()
    base_mixed = base.copy()
    base_mixed[190:192] = 1 - base_mixed[190:192]  # the base is wrong on 2 rows ...
    cand = base.copy()
    cand[:7] = 1 - cand[:7]  # ... which the candidate gets right, and wrong on 7 others
    lossy = budget.paired_drop(labels_mixed, base_mixed, cand)
    assert (lossy.only_base_right, lossy.only_candidate_right) == (7, 2)
    assert lossy.drop == pytest.approx(0.025)
    # Not "significant" at 5 %, yet its bound (4.1 points) is far over a 1-point budget.
    assert lossy.upper == pytest.approx(0.0413, abs=1e-3) and 0.05 < lossy.p_value < 0.1


def test_the_report_says_when_the_float32_fallback_ships():
    from greenkfp.components._shared import step_keys as keys
    from greenkfp.components.compression.report import render_compress_model
    from greenkfp.components.compression.task import CompressionOutcome

    cands = [_candidate("float32", 1000, 2.0), _candidate("int8", 300, 2.2)]
    figures = {
        **dict.fromkeys(
            [keys.GZIP_SIZE_RATIO, keys.LATENCY_SPEEDUP_P50, keys.INFERENCE_ENERGY_RATIO], 1.0
        ),
        **dict.fromkeys([keys.ACCURACY_DROP, keys.ACCURACY_DROP_UPPER, keys.SPARSITY], 0.0),
        keys.ACCURACY_DROP_P_VALUE: 1.0,
        keys.PREDICTION_AGREEMENT: 1.0,
        keys.LATENCY_THREADS: 1.0,
        keys.SERVING_BATCH_SIZE: 64.0,
        keys.WITHIN_BUDGET: 1.0,
        keys.FALLBACK: 1.0,
    }
    selection = "fallback: no compressed candidate paid; the float32 model ships"
    outcome = CompressionOutcome(
        figures, [c.row() for c in cands], "float32", {"selection": selection, "methods": []}
    )
    page = render_compress_model(outcome, {"energy_kwh": 1e-5})
    assert "float32 (fallback)" in page and selection in page
    assert page.count("<circle") == 3 * len(cands) and "batch 64" in page


@pytest.mark.parametrize(
    "rows, message",
    [
        (np.zeros((0, 3), np.float32), "it is empty"),
        (np.array([[0.0, np.nan, 1.0], [1.0, 2.0, 3.0]]), "1 of 2 calibration rows hold NaN"),
        (np.zeros((4, 5), np.float32), r"must have shape \(n, 3\)"),
        ([["a", "b", "c"]], "rows are not numeric"),
    ],
)
def test_empty_or_corrupt_representative_rows_are_refused(rows, message):
    from greenkfp.components.compression.optimize import check_representative

    with pytest.raises(InputError, match=message) as err:
        check_representative(rows, 3)
    assert "representative_samples" in str(err.value)


def test_serving_batches_cover_every_row_and_wrap():
    arrays = {"x": np.arange(5).reshape(5, 1)}
    assert [b["x"].ravel().tolist() for b in measure.batches(arrays, 2)] == [
        [0, 1],
        [2, 3],
        [4, 0],
    ]
    assert measure.batches(arrays, 8)[0]["x"].ravel().tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert len(measure.batches(arrays, 1)) == 5


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
        "validation_positions": result.validation_positions,
        "fit_rows": result.n_train,
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
    "base_batch_latency_p50_ms",
    "compressed_batch_latency_p50_ms",
    "base_batch_inference_energy_kwh_per_1k",
    "compressed_batch_inference_energy_kwh_per_1k",
    "batch_latency_speedup_p50",
    "batch_inference_energy_ratio",
    "accuracy_drop_upper",
    "accuracy_drop_p_value",
    "serving_batch_size",
    "within_budget",
    "fallback",
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
def test_auto_keeps_the_best_candidate_within_budget_on_the_objective(trained):
    outcome, _ = _compress(
        trained,
        "auto",
        methods=["auto"],
        auto_sparsities=[0.95],
        auto_quantizations=["int8"],
        objective="size",
        max_accuracy_drop=0.01,
        max_auc_drop=0.01,
    )
    cands = outcome.candidates
    names = ["float32", "dynamic", "int8", "float16", "prune0.95+int8"]
    assert [c["name"] for c in cands] == names and outcome.figures["candidates_tried"] == 5
    for c in cands:  # the verdict follows the drop's upper bound on the validation rows
        bound, auc_drop = c["validation_accuracy_drop_upper"], c["validation_auc_drop"]
        assert c["within_budget"] == (bound <= 0.01 + 1e-12 and auc_drop <= 0.01 + 1e-12)
        assert c["accuracy_drop_upper"] >= c["accuracy_drop"] - 1e-12
    float32 = cands[0]
    assert float32["accuracy_drop"] == 0 and float32["agreement"] == 1 and float32["within_budget"]
    within = [c for c in cands[1:] if c["within_budget"]]
    assert within, "the unpruned quantizations stay within a 1-point budget"
    kept = next(c for c in cands if c["name"] == outcome.chosen)
    assert kept["within_budget"] and kept["gzip_bytes"] == min(c["gzip_bytes"] for c in within)
    # The reported drop is the evaluation rows': measured after the choice, not used by it.
    assert outcome.figures["accuracy_drop_upper"] == kept["accuracy_drop_upper"]
    assert outcome.figures["within_budget"] == 1.0 and outcome.figures["fallback"] == 0.0


@pytest.mark.slow
def test_compression_chooses_and_fine_tunes_on_the_training_carve(trained, monkeypatch):
    import pandas as pd

    from greenkfp.components._shared.holdout import training_carve
    from greenkfp.components._shared.model_artifact import load_metadata
    from greenkfp.components.compression import optimize, task

    labels = (pd.read_csv(trained["train"])["risk"] == 1).astype(int).to_numpy()
    fit, validation = training_carve(labels, load_metadata(trained["model"]), seed=0)
    # The same validation rows as training's, from the model's metadata (seed 7, not 0).
    np.testing.assert_array_equal(validation, trained["validation_positions"])
    seen = []
    real_fine_tune = optimize._fine_tune

    def spy(model, x, y, *args, **kwargs):
        seen.append(len(x))
        return real_fine_tune(model, x, y, *args, **kwargs)

    monkeypatch.setattr(optimize, "_fine_tune", spy)
    _compress(trained, "prune-carve", methods=["prune"], fine_tune_epochs=1)
    assert seen == [len(fit)] == [trained["fit_rows"]]  # not the validation or eval rows
    # On large data fine-tuning and the serving measurements take bounded seeded samples;
    # quality figures still come from every eval row.
    served = []
    real_serving = task.measure.serving

    def serving_spy(model, rows, **kwargs):
        served.append(len(rows))
        return real_serving(model, rows, **kwargs)

    monkeypatch.setattr(task.measure, "serving", serving_spy)
    lines = []
    capped = {"max_fine_tune_rows": 300, "max_serving_rows": 50}
    task.run_compress_model(
        **paths(trained, trained["root"] / "prune-capped"),
        config=CompressionConfig.from_dict(
            {**FAST, "methods": ["prune"], "fine_tune_epochs": 1, **capped}
        ),
        log=lines.append,
    )
    assert seen[1:] == [300] and served == [50, 50]
    assert f"on 300 of {len(fit):,} training rows (seeded sample, at most 300)" in lines[0]
    assert f"quality on all {len(trained['eval_df']):,} eval rows" in lines[0]


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
    # Accuracy against size, latency and energy: one point per candidate in each chart.
    assert page.count("<circle") == 3 * len(outcome.candidates)
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


def test_auto_ignores_differences_within_the_noise_margin():
    cands = [
        _candidate("float32", 1000, 2.0),
        _candidate("int8", 300, 1.9),  # 5 % below the base: noise at a 10 % margin
    ]
    assert budget.choose(cands, BASE, "energy") == (cands[0], True)
    assert budget.choose(cands, BASE, "energy", margin=0.0)[0].name == "int8"
    # Size is exact: no margin, smaller is a saving.
    assert budget.choose(cands, BASE, "size", margin=0.1)[0].name == "int8"


def test_auto_ships_the_smallest_of_candidates_that_measure_alike():
    small = _candidate("small", 300, 1.5)
    quick = _candidate("quick", 600, 1.45)  # lowest energy, but within noise of "small"
    far = _candidate("far", 900, 1.0)
    cands = [_candidate("float32", 1000, 2.0), quick, small]
    # Whatever order the noisy readings put them in, the smaller one ships.
    assert budget.choose(cands, BASE, "energy")[0] is small
    assert budget.choose([cands[0], small, quick], BASE, "energy")[0] is small
    # A saving beyond the margin still wins over size.
    assert budget.choose([*cands, far], BASE, "energy")[0] is far


def test_config_from_component_inputs():
    """compress_model's inputs and greenkfp run's up-front check build the same config."""
    config = CompressionConfig.from_inputs(
        {"methods": [], "pruning_schedule": "constant", "sparsity": 0.7, "country_iso_code": "FRA"}
    )
    assert config.methods == ["auto"] and config.schedule == "constant"
    assert config.sparsity == 0.7
    with pytest.raises(InputError, match="unknown pruning schedule 'cubic'"):
        CompressionConfig.from_inputs({"pruning_schedule": "cubic"})
