import os
import textwrap

import numpy as np
import pandas as pd
import pytest

from greenkfp.components._shared.binary_metrics import binary_metrics
from greenkfp.components._shared.model_artifact import load_keras_model, load_metadata
from greenkfp.components._shared.progress import PROGRESS_PREFIX
from greenkfp.components._shared.saved_model import predict_scores_saved_model
from greenkfp.components._shared.task_head import task_head
from greenkfp.components.training import model as model_lib
from greenkfp.components.training import trainer
from greenkfp.components.training.export import save_model
from greenkfp.components.training.model import FeatureSpec, Hyperparameters

pytestmark = pytest.mark.slow

LABEL = "risk"
EPOCHS = 8
# Measured eval AUC on this split (seed 42, 8 epochs): about 0.75; the floor leaves room for
# platform numerics without letting a broken model (AUC ~0.5) through.
AUC_FLOOR = 0.65


def quiet(epoch, logs):
    pass


def split(df: pd.DataFrame, seed: int = 42):
    eval_df = df.sample(frac=0.2, random_state=seed)
    train_df = df.drop(eval_df.index)
    return train_df.reset_index(drop=True), eval_df.reset_index(drop=True)


@pytest.fixture(scope="module")
def frames(german_credit):
    return split(german_credit)


@pytest.fixture(scope="module")
def spec(frames):
    return model_lib.infer_feature_spec(frames[0], LABEL, categorical=["job"])


@pytest.fixture(scope="module")
def hparams():
    return Hyperparameters(epochs=EPOCHS, seed=7)


@pytest.fixture(scope="module")
def trained(frames, spec, hparams):
    train_df, eval_df = frames
    epochs_seen = []
    result = trainer.train(
        train_df,
        eval_df,
        LABEL,
        1,
        hparams,
        feature_spec=spec,
        on_epoch_end=lambda epoch, logs: epochs_seen.append((epoch, dict(logs))),
    )
    return result, epochs_seen


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    return save_model(trained[0], str(out)), str(out)


def odd_rows(eval_df: pd.DataFrame) -> pd.DataFrame:
    """Raw rows with a missing number, an unseen category and a missing category."""
    rows = eval_df.head(6).copy()
    rows["age"] = rows["age"].astype(float)
    rows.loc[rows.index[0], "age"] = np.nan
    rows.loc[rows.index[1], "purpose"] = "time machine"
    rows.loc[rows.index[2], "sex"] = None
    rows.loc[rows.index[3], "job"] = 9  # an unseen code of an integer categorical
    return rows


# ----------------------------------------------------------------------------- spec, hparams


def test_infer_feature_spec(german_credit):
    spec = model_lib.infer_feature_spec(german_credit, LABEL, categorical=["job"])
    assert spec.label == LABEL
    assert spec.numeric == ["credit_amount", "duration", "age"]
    assert set(spec.categorical) == {
        "sex",
        "job",
        "housing",
        "saving_accounts",
        "checking_account",
        "purpose",
    }
    plain = model_lib.infer_feature_spec(german_credit, LABEL)
    assert "job" in plain.numeric
    assert FeatureSpec.from_dict(spec.to_dict()) == spec


def test_infer_feature_spec_errors(german_credit):
    with pytest.raises(ValueError, match="'target'.*columns"):
        model_lib.infer_feature_spec(german_credit, "target")
    with pytest.raises(ValueError, match="nope"):
        model_lib.infer_feature_spec(german_credit, LABEL, categorical=["nope"])
    with pytest.raises(ValueError, match="both|numeric and categorical"):
        FeatureSpec(numeric=["a"], categorical=["a"], label="y")
    with pytest.raises(ValueError, match="same model input name"):
        FeatureSpec(numeric=["a-b", "a_b"], label="y")


def test_hyperparameters_defaults_and_validation():
    hp = Hyperparameters()
    assert (hp.epochs, hp.batch_size, hp.learning_rate) == (0, 0, 1e-3)  # 0: auto
    assert hp.hidden_units == (64, 32)
    assert (hp.dropout, hp.early_stopping_patience, hp.seed) == (0.1, 5, 42)
    assert (hp.validation_fraction, hp.max_validation_rows) == (0.1, 10_000)
    assert (hp.deterministic, hp.max_training_minutes) == (True, 0.0)
    assert Hyperparameters.from_dict(hp.to_dict()) == hp
    bad = {
        "epochs": -1,
        "batch_size": -1,
        "learning_rate": 0.0,
        "hidden_units": (64, 0),
        "dropout": 1.0,
        "early_stopping_patience": -1,
        "seed": "x",
        "validation_fraction": 0.6,
        "max_validation_rows": 0,
        "deterministic": "yes",
        "max_training_minutes": -1,
    }
    for name, value in bad.items():
        with pytest.raises(ValueError, match=name):
            Hyperparameters(**{name: value})
    with pytest.raises(ValueError, match="unknown hyperparameters.*'lr'"):
        Hyperparameters.from_dict({"lr": 0.1})


def test_auto_batch_size_and_epochs_follow_the_training_rows():
    # The embedded data's 720 fitting rows train as before the rule: 30 epochs of batch 32.
    demo = Hyperparameters().resolved(720)
    assert (demo.epochs, demo.batch_size) == (30, 32)
    large = Hyperparameters().resolved(90_000)
    assert (large.epochs, large.batch_size) == (7, 512)
    huge = Hyperparameters().resolved(1_000_000)
    assert (huge.epochs, huge.batch_size) == (5, 1024)
    for rows in (100, 6_400, 6_401, 50_000, 204_800):
        size = model_lib.auto_batch_size(rows)
        assert np.ceil(rows / size) <= model_lib.AUTO_STEPS_PER_EPOCH, rows
        assert size == 32 or np.ceil(rows / (size // 2)) > model_lib.AUTO_STEPS_PER_EPOCH
    assert model_lib.auto_batch_size(300_000) == 1024  # the largest, above 200 steps
    assert model_lib.auto_epochs(20_000) == 30 and model_lib.auto_epochs(40_000) == 15
    explicit = Hyperparameters(epochs=3, batch_size=8).resolved(1_000_000)
    assert (explicit.epochs, explicit.batch_size) == (3, 8)


def test_op_determinism_is_an_option():
    from tensorflow.python.framework import config as tf_config

    trainer.set_op_determinism(False)
    assert not tf_config.is_op_determinism_enabled()
    trainer.set_op_determinism(True)
    assert tf_config.is_op_determinism_enabled()


def test_unknown_task_is_refused(frames, spec):
    with pytest.raises(ValueError, match="regression.*binary"):
        task_head("regression")
    with pytest.raises(ValueError, match="regression"):
        trainer.train(*frames, LABEL, 1, Hyperparameters(epochs=1), spec, task="regression")


def test_default_progress_line(capsys):
    now = iter([100.0, 112.0, 150.0])  # created at 100 s; epochs end at 112 s and 150 s
    hook = trainer.print_progress(30, clock=lambda: next(now))
    hook(3, {"loss": 0.51, "auc": 0.78, "val_loss": 0.55, "val_auc": 0.7})
    assert capsys.readouterr().out == PROGRESS_PREFIX + (
        "epoch 3/30 loss=0.5100 auc=0.7800 val_loss=0.5500 val_auc=0.7000 elapsed 0:12 left ~1:48\n"
    )
    hook(4, {"loss": 0.5})  # 50 s for 4 epochs: 12.5 s each, 26 left
    line = "epoch 4/30 loss=0.5000 elapsed 0:50 left ~5:25\n"
    assert capsys.readouterr().out == PROGRESS_PREFIX + line
    budgeted = iter([0.0, 60.0])
    trainer.print_progress(30, time_budget_s=90, clock=lambda: next(budgeted))(1, {})
    assert capsys.readouterr().out == PROGRESS_PREFIX + "epoch 1/30 elapsed 1:00 left ~0:30\n"


# ----------------------------------------------------------------------------- training


def test_training_reaches_sensible_auc(trained, frames, hparams):
    result, epochs_seen = trained
    _, eval_df = frames
    m = result.eval_metrics
    print(
        f"eval metrics (seed {hparams.seed}, {EPOCHS} epochs): {m}, best epoch {result.best_epoch}"
    )
    assert m["auc"] > AUC_FLOOR
    assert 0.0 <= m["accuracy"] <= 1.0 and m["loss"] > 0
    assert result.eval_scores.shape == (len(eval_df),)
    assert result.eval_labels.tolist() == (eval_df[LABEL] == 1).astype(int).tolist()
    assert result.param_count == result.model.count_params() > 0
    for key in ("loss", "auc", "val_loss", "val_auc"):
        assert len(result.history[key]) == result.epochs_run
    # The hook ran once per epoch, counting from 1, with the Keras logs.
    assert [e for e, _ in epochs_seen] == list(range(1, result.epochs_run + 1))
    assert epochs_seen[-1][1]["val_loss"] == pytest.approx(result.history["val_loss"][-1])
    # Validation rows are carved from the training rows, the rest trains.
    train_df, _ = frames
    assert result.n_train + result.n_validation == len(train_df)
    assert result.n_validation == round(0.1 * len(train_df))
    # Best weights are restored: the carved rows' loss is the best epoch's validation loss.
    assert result.best_epoch == int(np.argmin(result.history["val_loss"])) + 1
    validation = train_df.iloc[result.validation_positions]
    validation_scores = trainer.predict_scores(result.model, validation)
    validation_loss = binary_metrics((validation[LABEL] == 1).to_numpy(int), validation_scores)
    assert validation_loss["loss"] == pytest.approx(min(result.history["val_loss"]), abs=1e-3)


def test_training_is_deterministic(trained, frames, spec, hparams):
    first, _ = trained
    second = trainer.train(*frames, LABEL, 1, hparams, feature_spec=spec, on_epoch_end=quiet)
    for key, value in first.eval_metrics.items():
        assert second.eval_metrics[key] == pytest.approx(value, abs=1e-6), key
    for key, values in first.history.items():
        np.testing.assert_allclose(second.history[key], values, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(second.eval_scores, first.eval_scores, atol=1e-6)


MARKER_AMOUNT = 987_654_321
MARKER_PURPOSE = "EVAL-ROW-MARKER"


def _rows_of(data):
    """``(credit_amount values, purpose values)`` of what ``fit`` got as x or validation."""
    from tensorflow import data as tf_data

    if isinstance(data, tf_data.Dataset):
        batches = [x for x, _ in data.as_numpy_iterator()]
    elif isinstance(data, tuple):  # (x, y) or (x, y, weights)
        batches = [data[0]]
    else:
        batches = [data]
    amounts = np.concatenate([np.ravel(b["credit_amount"]) for b in batches])
    purposes = np.concatenate([np.ravel(b["purpose"]) for b in batches])
    return amounts, [p.decode() if isinstance(p, bytes) else str(p) for p in purposes]


def test_no_evaluation_row_reaches_training_or_early_stopping(frames, spec, monkeypatch):
    from greenkfp.components._shared.tf_setup import import_tf_keras

    train_df, eval_df = frames
    marked_eval = eval_df.assign(credit_amount=MARKER_AMOUNT, purpose=MARKER_PURPOSE)
    assert not (train_df["credit_amount"] == MARKER_AMOUNT).any()
    seen = {}
    model_class = import_tf_keras().Model
    real_fit = model_class.fit

    def spy_fit(self, x=None, y=None, *args, **kwargs):
        seen["x"] = x if y is None else (x, y)
        seen["validation_data"] = kwargs.get("validation_data")
        return real_fit(self, x, y, *args, **kwargs)

    monkeypatch.setattr(model_class, "fit", spy_fit)
    hp = Hyperparameters(epochs=2, seed=7)
    result = trainer.train(train_df, marked_eval, LABEL, 1, hp, spec, on_epoch_end=quiet)

    fit_amounts, fit_purposes = _rows_of(seen["x"])
    assert seen["validation_data"] is not None, "early stopping needs validation rows"
    val_amounts, val_purposes = _rows_of(seen["validation_data"])
    for amounts, purposes, what in [
        (fit_amounts, fit_purposes, "training inputs"),
        (val_amounts, val_purposes, "validation data"),
    ]:
        assert MARKER_AMOUNT not in amounts, f"an evaluation row reached fit's {what}"
        assert MARKER_PURPOSE not in purposes, f"an evaluation row reached fit's {what}"
    # Every training row is used exactly once: fitting or validating.
    assert len(fit_amounts) == result.n_train and len(val_amounts) == result.n_validation
    assert sorted(np.concatenate([fit_amounts, val_amounts]).tolist()) == sorted(
        train_df["credit_amount"].astype(np.float32).tolist()
    )
    # The evaluation rows, and only they, give the reported metrics.
    assert result.n_eval == len(marked_eval) and result.eval_scores.shape == (len(eval_df),)


def test_time_budget_stops_after_the_epoch_and_says_so(frames, spec, capsys):
    # A budget of a microsecond runs out in the first epoch: training stops after it.
    hp = Hyperparameters(epochs=5, seed=7, max_training_minutes=1e-8)
    result = trainer.train(*frames, LABEL, 1, hp, spec)
    out = capsys.readouterr().out
    assert result.stopped_by_time_budget and result.summary()["stopped_by_time_budget"]
    assert result.epochs_run == 1 and result.best_epoch == 1
    assert out.count("epoch 1/5 ") == 1 and "epoch 2/5" not in out
    assert "stopped by its time budget (1e-08 min) after epoch 1/5" in out
    unbudgeted = trainer.train(
        *frames, LABEL, 1, Hyperparameters(epochs=2), spec, on_epoch_end=quiet
    )
    assert not unbudgeted.stopped_by_time_budget and unbudgeted.epochs_run == 2


def test_string_labels_and_inferred_spec(frames):
    train_df, eval_df = (f.assign(risk=f[LABEL].map({1: "good", 0: "bad"})) for f in frames)
    result = trainer.train(
        train_df, eval_df, LABEL, "good", Hyperparameters(epochs=1), on_epoch_end=quiet
    )
    assert (result.positive_label, result.negative_label) == ("good", "bad")
    assert "job" in result.feature_spec.numeric  # inferred from the int dtype
    assert result.eval_labels.tolist() == (eval_df[LABEL] == "good").astype(int).tolist()


USER_MODULE = """
import tf_keras


def build_model(feature_spec, hparams):
    inputs = {}
    parts = []
    for col in feature_spec.numeric:
        inp = tf_keras.Input(shape=(1,), name=col)
        inputs[col] = inp
        parts.append(tf_keras.layers.Normalization(mean=0.0, variance=1e6)(inp))
    for col in feature_spec.categorical:
        inp = tf_keras.Input(shape=(1,), dtype="string", name=col)
        inputs[col] = inp
        parts.append(tf_keras.layers.Hashing(8, output_mode="one_hot")(inp))
    x = tf_keras.layers.Concatenate()(parts)
    x = tf_keras.layers.Dense(hparams.hidden_units[0], activation="relu")(x)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(1, activation="sigmoid")(x))
"""


def write_module(tmp_path, text, name="user_model.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_module_file_model(frames, spec, tmp_path):
    path = write_module(tmp_path, USER_MODULE)
    hp = Hyperparameters(epochs=2, hidden_units=(5,))
    result = trainer.train(*frames, LABEL, 1, hp, spec, module_file=path, on_epoch_end=quiet)
    assert result.model_source == path
    assert len(result.history["loss"]) == 2
    n_inputs = 3 + 6 * 8  # normalized numbers + one-hot hashed categories
    assert result.param_count == result.model.count_params() >= (n_inputs * 5 + 5) + (5 + 1)
    assert result.eval_scores.shape == (len(frames[1]),)


# ----------------------------------------------------------------------------- bad input


def test_label_column_missing(frames, spec):
    train_df, eval_df = frames
    with pytest.raises(ValueError, match=r"'target'.*columns.*'risk'"):
        trainer.train(train_df, eval_df, "target", 1, Hyperparameters(epochs=1))
    with pytest.raises(ValueError, match=r"'risk' not found in eval_df"):
        trainer.train(train_df, eval_df.drop(columns=[LABEL]), LABEL, 1, Hyperparameters(epochs=1))


def test_empty_frames_and_missing_features(frames, spec):
    train_df, eval_df = frames
    with pytest.raises(ValueError, match="train_df is empty"):
        trainer.train(train_df.head(0), eval_df, LABEL, 1, Hyperparameters(epochs=1), spec)
    with pytest.raises(ValueError, match="eval_df is empty"):
        trainer.train(train_df, eval_df.head(0), LABEL, 1, Hyperparameters(epochs=1), spec)
    with pytest.raises(ValueError, match=r"eval_df lacks columns \['age'\]"):
        trainer.train(train_df, eval_df.drop(columns=["age"]), LABEL, 1, None, spec)


def test_positive_label_absent(frames, spec):
    with pytest.raises(ValueError, match=r"'yes'.*'risk'.*\['0', '1'\]"):
        trainer.train(*frames, LABEL, "yes", Hyperparameters(epochs=1), spec)


def test_module_file_missing_or_without_build_model(frames, spec, tmp_path):
    with pytest.raises(ValueError, match="module_file not found: .*nowhere.py"):
        trainer.train(*frames, LABEL, 1, None, spec, module_file=str(tmp_path / "nowhere.py"))
    path = write_module(tmp_path, "def make_model(spec, hp):\n    return None\n")
    with pytest.raises(ValueError, match=r"no function build_model.*\['make_model'\]"):
        trainer.train(*frames, LABEL, 1, None, spec, module_file=path)
    broken = write_module(tmp_path, "import no_such_package_xyz\n", "broken.py")
    with pytest.raises(ValueError, match="failed to import.*no_such_package_xyz"):
        trainer.train(*frames, LABEL, 1, None, spec, module_file=broken)


def test_module_file_model_that_does_not_fit(frames, spec, tmp_path):
    wrong_inputs = USER_MODULE.replace("name=col)", "name=col + '_x')", 1)
    path = write_module(tmp_path, wrong_inputs)
    with pytest.raises(ValueError, match="missing inputs.*'age'.*extra inputs.*'age_x'"):
        trainer.train(*frames, LABEL, 1, Hyperparameters(epochs=1), spec, module_file=path)
    not_a_model = write_module(
        tmp_path, "def build_model(feature_spec, hparams):\n    return 42\n", "nm.py"
    )
    with pytest.raises(ValueError, match="not a tf_keras.Model"):
        trainer.train(*frames, LABEL, 1, Hyperparameters(epochs=1), spec, module_file=not_a_model)
    two_units = write_module(tmp_path, USER_MODULE.replace("Dense(1,", "Dense(2,"), "two.py")
    with pytest.raises(ValueError, match="one output of 1 unit"):
        trainer.train(*frames, LABEL, 1, Hyperparameters(epochs=1), spec, module_file=two_units)


# ----------------------------------------------------------------------------- export


def test_saved_model_and_keras_model_agree_on_raw_rows(trained, exported, frames):
    result, _ = trained
    export, out = exported
    assert os.path.isfile(os.path.join(export.saved_model_dir, "saved_model.pb"))
    assert export.saved_model_bytes > 0 and export.keras_model_bytes > 0
    rows = odd_rows(frames[1])
    reference = trainer.predict_scores(result.model, rows)
    assert np.all(np.isfinite(reference)) and reference.shape == (len(rows),)

    reloaded = load_keras_model(out)
    np.testing.assert_allclose(trainer.predict_scores(reloaded, rows), reference, atol=1e-5)
    served = predict_scores_saved_model(out, rows)
    np.testing.assert_allclose(served, reference, atol=1e-5)

    # Missing and unseen values go to the imputation / OOV paths: the same score as the
    # train mean and as any other unseen category.
    imputed = rows.head(1).copy()
    imputed["age"] = float(result.model.get_layer("age_norm").mean.numpy().ravel()[0])
    np.testing.assert_allclose(
        trainer.predict_scores(result.model, imputed), reference[:1], atol=1e-5
    )
    other_unseen = rows.iloc[[1]].assign(purpose="")
    np.testing.assert_allclose(
        trainer.predict_scores(result.model, other_unseen), reference[1:2], atol=1e-5
    )


def test_serving_signature_takes_named_raw_features(exported, frames):
    import tensorflow as tf

    export, _ = exported
    loaded = tf.saved_model.load(export.saved_model_dir)
    sig = loaded.signatures["serving_default"]
    inputs = sig.structured_input_signature[1]
    assert inputs["age"].dtype == tf.float32 and inputs["purpose"].dtype == tf.string
    assert inputs["job"].dtype == tf.string and inputs["age"].shape.as_list() == [None]
    rows = frames[1].head(2)
    out = sig(
        **{
            name: tf.constant(
                rows[name].astype(str).tolist()
                if spec.dtype == tf.string
                else rows[name].astype("float32").tolist(),
                dtype=spec.dtype,
            )
            for name, spec in inputs.items()
        }
    )
    np.testing.assert_allclose(
        out["scores"].numpy(), predict_scores_saved_model(loaded, rows), atol=1e-6
    )


def test_metadata_written(exported, trained):
    export, out = exported
    meta = load_metadata(out)
    assert meta["positive_label"] == "1" and meta["label_column"] == LABEL
    assert meta["feature_spec"] == trained[0].feature_spec.to_dict()
    assert meta["eval_metrics"]["auc"] == pytest.approx(trained[0].eval_metrics["auc"])
    assert meta["serving"]["inputs"]["purpose"] == "string"
    with pytest.raises(ValueError, match="no Keras model"):
        load_keras_model(str(out) + "/nowhere")


def test_default_model_handles_gaps_and_large_vocabularies(tmp_path):
    rng = np.random.RandomState(0)
    n = 120
    df = pd.DataFrame(
        {
            "x": np.where(rng.rand(n) < 0.2, np.nan, rng.randn(n)),
            "empty": np.full(n, np.nan),
            "city": [f"c{i % 40}" for i in range(n)],  # > one-hot limit: embedding
            "y": rng.randint(0, 2, n),
        }
    )
    spec = FeatureSpec(numeric=["x", "empty"], categorical=["city"], label="y")
    model = model_lib.build_default_model(spec, df, Hyperparameters(hidden_units=(4,)))
    assert model.get_layer("city_embedding").input_dim == 41  # 40 values + OOV
    rows = pd.DataFrame({"x": [np.nan, 1.0], "empty": [np.nan, 3.0], "city": ["c1", "zz"]})
    scores = trainer.predict_scores(model, rows)
    assert np.all(np.isfinite(scores))
    export = save_model(model, str(tmp_path))  # a bare model: no metadata
    assert export.metadata_path == ""
    np.testing.assert_allclose(
        trainer.predict_scores(load_keras_model(str(tmp_path)), rows), scores, atol=1e-6
    )
    np.testing.assert_allclose(predict_scores_saved_model(str(tmp_path), rows), scores, atol=1e-6)
    with pytest.raises(ValueError, match="'city' has no value"):
        model_lib.build_default_model(spec, df.assign(city=None), Hyperparameters())
