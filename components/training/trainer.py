"""Training logic of the ``train_model`` component: labels, seeded training, metrics, export.

Plain Python, no KFP: the component wrapper turns its inputs into a call of :func:`train`
and :func:`save_model`. Early stopping watches the loss on ``eval_df`` (as TFX's Trainer
validates on its eval split), and the reported eval metrics are computed on the same rows
with the best weights restored.

A user model comes from ``module_file``, a Python file that defines::

    def build_model(feature_spec, hparams):  # optionally a third argument train_df
        ...  # returns a tf_keras.Model with one named input per feature

Inputs are named by :func:`greenkfp.components.training.model.input_name` (the column
name for ordinary names), shaped ``(1,)``, float32 for numeric and ``tf.string`` for
categorical features, as in the default model. Its output is the task's score layer (one
sigmoid unit for ``binary``). The trainer compiles it.

Process-wide effects of :func:`train`: it seeds Python, NumPy and TF, turns on TF op
determinism (which stays on), and tells AutoGraph to skip tf_keras internals (see
:func:`skip_autograph_for_tf_keras`), which saves about 15 s of tracing per process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components.training.model import (
    FeatureSpec,
    Hyperparameters,
    TaskHead,
    build_default_model,
    infer_feature_spec,
    input_name,
    task_head,
    to_category_strings,
    to_numeric_array,
)

os.environ["TF_USE_LEGACY_KERAS"] = "1"

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

SAVED_MODEL_DIRNAME = "saved_model"
KERAS_FILENAME = "keras_model.keras"
METADATA_FILENAME = "model_metadata.json"
SERVING_SIGNATURE = "serving_default"
SCORES_OUTPUT = "scores"

EpochHook = Callable[[int, dict], None]


# ----------------------------------------------------------------------------- labels


def encode_label(
    series: pd.Series, positive_label: Any, negative_label: Optional[Any] = None
) -> np.ndarray:
    """Encodes a binary label column as 1 (positive) and 0 (the other value).

    Values are compared as stripped strings, numbers with an integral value written
    without a decimal part: ``positive_label`` ``1``, ``"1"`` and ``1.0`` all match a
    column of ``1``/``0``; ``"yes"`` or ``">50K"`` match string labels.

    Args:
        series: The label column.
        positive_label: The value that means the positive class.
        negative_label: When given, the column may hold only these two values, and need not
            hold both (for an evaluation split); when not, it must hold exactly two distinct
            values, ``positive_label`` among them.

    Returns:
        An int64 array of 0 and 1.

    Raises:
        InputError: When the column has missing values, ``positive_label`` is not among its
            values, or it does not hold exactly two distinct values. The message names the
            column and lists the values seen.
    """
    name = series.name
    strings = to_category_strings(series)
    n_missing = int((strings == "").sum())
    if n_missing:
        raise InputError(f"label column {name!r} has {n_missing} missing value(s)")
    seen = sorted(set(strings.tolist()))
    pos = _match_label(positive_label, seen)
    if negative_label is None:
        if pos not in seen:
            raise InputError(
                f"positive label {positive_label!r} does not occur in label column {name!r}; "
                f"values seen: {_preview(seen)}"
            )
        if len(seen) != 2:
            raise InputError(
                f"label column {name!r} must hold exactly 2 distinct values for binary "
                f"classification, found {len(seen)}: {_preview(seen)}"
            )
    else:
        neg = _match_label(negative_label, seen)
        extra = [v for v in seen if v not in (pos, neg)]
        if extra:
            raise InputError(
                f"label column {name!r} holds values {_preview(extra)} besides the classes "
                f"{[pos, neg]} of the training data"
            )
    return (strings == pos).astype(np.int64)


def _match_label(label: Any, seen: list[str]) -> str:
    """Canonical string of a label; ``"1.0"`` also matches ``"1"`` and vice versa."""
    s = to_category_strings([label])[0]
    if s in seen:
        return s
    try:
        alt = to_category_strings([float(s)])[0]
    except ValueError:
        return s
    return alt if alt in seen else s


def _preview(values: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    more = f", ... ({len(values)} in all)" if len(values) > limit else ""
    return f"[{shown}{more}]"


# ----------------------------------------------------------------------------- metrics


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Exact ROC AUC (Mann-Whitney, ties counted half); NaN when a class is absent."""
    labels = np.asarray(labels).astype(bool).ravel()
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(np.asarray(scores, dtype=np.float64).ravel()).rank(method="average")
    rank_sum = float(ranks.to_numpy()[labels].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy (at ``threshold``), exact AUC and log loss of binary scores.

    Args:
        labels: 0/1 labels.
        scores: Probabilities of the positive class.
        threshold: Scores at or above it count as positive.

    Returns:
        ``{"accuracy": ..., "auc": ..., "loss": ...}`` as Python floats.
    """
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.asarray(scores, dtype=np.float64).ravel()
    if y.size == 0:
        return {"accuracy": float("nan"), "auc": float("nan"), "loss": float("nan")}
    eps = 1e-7  # Keras' epsilon: the same clipping as BinaryCrossentropy.
    pc = np.clip(p, eps, 1.0 - eps)
    loss = float(-np.mean(y * np.log(pc) + (1.0 - y) * np.log(1.0 - pc)))
    accuracy = float(np.mean((p >= threshold) == (y == 1.0)))
    return {"accuracy": accuracy, "auc": float(roc_auc(y, p)), "loss": loss}


# ----------------------------------------------------------------------------- inputs


def model_input_specs(model: tf_keras.Model) -> list[tuple[str, Any, tuple]]:
    """Lists ``(name, tf dtype, shape)`` of a functional model's inputs."""
    inputs = list(getattr(model, "inputs", None) or [])
    names = list(getattr(model, "input_names", None) or [])
    if len(names) != len(inputs):
        names = [t.name.split(":")[0] for t in inputs]
    return [(n, t.dtype, tuple(t.shape)) for n, t in zip(names, inputs)]


def frame_to_inputs(df: pd.DataFrame, specs: list[tuple[str, Any, tuple]]) -> dict:
    """Turns raw DataFrame rows into the named arrays a model (or signature) takes.

    A column feeds the input of the same name or, failing that, the input named
    :func:`input_name` of it. String inputs get :func:`to_category_strings` (missing ->
    ``""``); numeric inputs get numbers with ``NaN`` for missing values.

    Args:
        df: Raw rows; extra columns (the label, ids) are ignored.
        specs: ``(name, tf dtype, shape)`` per input; shape ``(None, 1)`` gives arrays of
            shape ``(n, 1)``, shape ``(None,)`` gives ``(n,)``.

    Returns:
        A dict from input name to numpy array.

    Raises:
        InputError: When a column for an input is missing, or holds a non-number for a
            numeric input.
    """
    by_input_name: dict[str, str] = {}
    for col in df.columns:
        by_input_name.setdefault(input_name(col), col)
    missing = [n for n, _, _ in specs if n not in df.columns and n not in by_input_name]
    if missing:
        raise InputError(
            f"the data lacks columns for model inputs {missing}; it has {list(df.columns)}"
        )
    out = {}
    for name, dtype, shape in specs:
        col = name if name in df.columns else by_input_name[name]
        if dtype.name == "string":
            arr = to_category_strings(df[col])
        else:
            arr = to_numeric_array(df[col], col)
            np_dtype = dtype.as_numpy_dtype
            if not np.issubdtype(np_dtype, np.floating) and np.isnan(arr).any():
                raise InputError(
                    f"column {col!r} has missing values but the model input is {dtype.name}"
                )
            arr = arr.astype(np_dtype)
        if len(shape) == 2 and shape[-1] == 1:
            arr = arr.reshape(-1, 1)
        out[name] = arr
    return out


def predict_scores(model: tf_keras.Model, df: pd.DataFrame, batch_size: int = 1024) -> np.ndarray:
    """Scores raw DataFrame rows with a Keras model that takes named raw features.

    Args:
        model: A model built by :func:`build_default_model` or a user ``build_model``.
        df: Raw rows with (at least) the feature columns.
        batch_size: Rows per prediction batch.

    Returns:
        A 1-D float32 array of scores for a one-unit output, else ``(n, units)``.
    """
    if len(df) == 0:
        return np.zeros((0,), dtype=np.float32)
    x = frame_to_inputs(df, model_input_specs(model))
    skip_autograph_for_tf_keras()
    scores = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    return scores.reshape(-1) if scores.ndim == 2 and scores.shape[1] == 1 else scores


# ----------------------------------------------------------------------------- user models


def load_build_model_fn(module_file: str) -> Callable:
    """Imports a user module file and returns its ``build_model`` function.

    Raises:
        InputError: When the file is missing, fails to import, or defines no callable
            ``build_model``.
    """
    path = os.fspath(module_file)
    if not os.path.isfile(path):
        raise InputError(f"module_file not found: {path}")
    digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"greenkfp_user_module_{digest}", path)
    if spec is None or spec.loader is None:
        raise InputError(f"module_file {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise InputError(f"module_file {path} failed to import: {type(e).__name__}: {e}") from e
    fn = getattr(module, "build_model", None)
    if fn is None or not callable(fn):
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        raise InputError(
            f"module_file {path} defines no function build_model(feature_spec, hparams); "
            f"it defines: {public}"
        )
    return fn


def check_model_fits(
    model: Any, feature_spec: FeatureSpec, head: TaskHead, source: str = "the model"
) -> None:
    """Checks that a model is a tf_keras model whose inputs and output fit the features.

    Raises:
        InputError: Naming what is wrong: not a ``tf_keras.Model`` (with a hint for Keras 3
            models), missing or extra inputs, an input of the wrong dtype, or an output that
            does not fit the task.
    """
    import tf_keras

    if not isinstance(model, tf_keras.Model):
        kind = f"{type(model).__module__}.{type(model).__name__}"
        hint = ""
        if type(model).__module__.split(".")[0] in ("keras", "keras_core"):
            hint = " (a Keras 3 model: build it with `import tf_keras`, not `import keras`)"
        raise InputError(f"{source} returned {kind}, not a tf_keras.Model{hint}")
    specs = model_input_specs(model)
    if not specs:
        raise InputError(
            f"{source} returned a model without defined inputs; build a functional model "
            "with one named tf_keras.Input per feature"
        )
    expected = feature_spec.input_names()  # column -> input name
    got = {name: dtype for name, dtype, _ in specs}
    missing = [n for n in expected.values() if n not in got]
    extra = [n for n in got if n not in expected.values()]
    if missing or extra:
        raise InputError(
            f"{source}: model inputs do not match the features: missing inputs {missing}, "
            f"extra inputs {extra}; expected one input per feature named "
            f"{list(expected.values())}"
        )
    for col in feature_spec.numeric:
        if got[expected[col]].name == "string":
            raise InputError(
                f"{source}: input {expected[col]!r} is tf.string but feature {col!r} is numeric"
            )
    for col in feature_spec.categorical:
        if got[expected[col]].name != "string":
            raise InputError(
                f"{source}: input {expected[col]!r} is {got[expected[col]].name} but feature "
                f"{col!r} is categorical and is fed as tf.string"
            )
    outputs = list(getattr(model, "outputs", None) or [])
    if len(outputs) != 1 or outputs[0].shape[-1] != head.output_units:
        shapes = [tuple(o.shape) for o in outputs]
        raise InputError(
            f"{source}: a {head.task} model needs one output of {head.output_units} unit(s) "
            f"({head.activation}); it has outputs of shapes {shapes}"
        )


def _build_user_model(
    module_file: str,
    feature_spec: FeatureSpec,
    hparams: Hyperparameters,
    train_df: pd.DataFrame,
    head: TaskHead,
) -> tf_keras.Model:
    fn = load_build_model_fn(module_file)
    source = f"build_model in {module_file}"
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    try:
        if "train_df" in params:
            model = fn(feature_spec, hparams, train_df=train_df)
        else:
            model = fn(feature_spec, hparams)
    except InputError:
        raise
    except Exception as e:
        raise InputError(f"{source} raised {type(e).__name__}: {e}") from e
    check_model_fits(model, feature_spec, head, source)
    return model


def skip_autograph_for_tf_keras() -> bool:
    """Tells AutoGraph not to transpile tf_keras' own code, as TF already skips ``keras``.

    TensorFlow 2.16 lists the ``keras`` package as "do not convert" but not ``tf_keras``
    (the same Keras 2 code under a new name), so the first ``fit`` of a process spends
    about 15 s transpiling Keras internals. Keras code is written to run without
    AutoGraph (that is how it ran as ``keras``); user layers' ``call`` methods are still
    converted. Idempotent; returns whether the rule is in place. Relies on a private TF
    module, so it does nothing when that module is not where TF 2.16 has it.
    """
    try:
        from tensorflow.python.autograph.core import config, config_lib
    except ImportError:  # pragma: no cover - other TF layouts
        return False
    rules = getattr(config, "CONVERSION_RULES", None)
    if not isinstance(rules, tuple):  # pragma: no cover
        return False
    if not any(
        isinstance(r, config_lib.DoNotConvert) and getattr(r, "_prefix", None) == "tf_keras"
        for r in rules
    ):
        config.CONVERSION_RULES = (config_lib.DoNotConvert("tf_keras"),) + rules
    return True


# ----------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: The trained model, best epoch's weights restored.
        feature_spec: The features used.
        hparams: The hyperparameters used.
        task: The task (``"binary"``).
        label_column: The label column.
        positive_label: The positive label, as the canonical string seen in the data.
        negative_label: The other label value.
        history: Per-epoch ``loss``, ``auc``, ``accuracy`` and their ``val_`` forms.
        eval_metrics: ``accuracy``, ``auc`` (exact) and ``loss`` on ``eval_df``.
        eval_scores: Scores of the ``eval_df`` rows.
        eval_labels: 0/1 labels of the ``eval_df`` rows.
        param_count: Number of model parameters.
        epochs_run: Epochs actually run (early stopping may cut them).
        best_epoch: The 1-based epoch whose weights were kept.
        train_seconds: Wall time of ``fit``.
        n_train: Training rows.
        n_eval: Evaluation rows.
        model_source: ``"default"`` or the module file path.
    """

    model: Any
    feature_spec: FeatureSpec
    hparams: Hyperparameters
    task: str
    label_column: str
    positive_label: str
    negative_label: str
    history: dict[str, list[float]]
    eval_metrics: dict[str, float]
    eval_scores: np.ndarray
    eval_labels: np.ndarray
    param_count: int
    epochs_run: int
    best_epoch: int
    train_seconds: float
    n_train: int
    n_eval: int
    model_source: str = "default"

    def summary(self) -> dict[str, Any]:
        """Returns the JSON-friendly facts of the run (no model, no arrays)."""
        return {
            "task": self.task,
            "label_column": self.label_column,
            "positive_label": self.positive_label,
            "negative_label": self.negative_label,
            "feature_spec": self.feature_spec.to_dict(),
            "input_names": self.feature_spec.input_names(),
            "hparams": self.hparams.to_dict(),
            "eval_metrics": dict(self.eval_metrics),
            "history": {k: list(v) for k, v in self.history.items()},
            "param_count": self.param_count,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "train_seconds": self.train_seconds,
            "n_train": self.n_train,
            "n_eval": self.n_eval,
            "model_source": self.model_source,
        }


def print_progress(total_epochs: int) -> EpochHook:
    """Returns the default epoch hook: one line per epoch, e.g. ``epoch 3/30 loss=0.5100``."""

    def hook(epoch: int, logs: dict) -> None:
        parts = [f"{k}={logs[k]:.4f}" for k in ("loss", "auc", "val_loss", "val_auc") if k in logs]
        print(f"epoch {epoch}/{total_epochs} " + " ".join(parts), flush=True)

    return hook


def select_strategy() -> Any:
    """Chooses the ``tf.distribute`` strategy for the machine the task runs on.

    ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes a cluster,
    ``MirroredStrategy`` when several GPUs are visible, the default strategy otherwise.
    """
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _check_frame(df: Any, what: str, label_column: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise InputError(f"{what} is empty (no rows)")
    if label_column not in df.columns:
        raise InputError(
            f"label column {label_column!r} not found in {what}; columns: {list(df.columns)}"
        )


def train(
    train_df: pd.DataFrame,
    eval_df: pd.DataFrame,
    label_column: str,
    positive_label: Any,
    hparams: Union[Hyperparameters, dict, None] = None,
    feature_spec: Optional[FeatureSpec] = None,
    module_file: Optional[str] = None,
    on_epoch_end: Optional[EpochHook] = None,
    task: str = "binary",
) -> TrainResult:
    """Trains a model on raw tabular data, deterministically for a given seed.

    Seeds Python, NumPy and TensorFlow (``tf_keras.utils.set_random_seed``) and turns on
    TensorFlow op determinism, so two runs with the same data and hyperparameters give the
    same weights. Early stopping watches the loss on ``eval_df`` and restores the best
    epoch's weights; eval metrics are then computed on ``eval_df``.

    Args:
        train_df: Training rows (features and label).
        eval_df: Evaluation rows (same columns).
        label_column: The label column.
        positive_label: The label value of the positive class (``1``, ``"yes"``, ...).
        hparams: Hyperparameters, or a dict of them; defaults when ``None``.
        feature_spec: The features; inferred from ``train_df`` dtypes when ``None``.
        module_file: A Python file defining ``build_model(feature_spec, hparams)``; the
            default model when ``None``.
        on_epoch_end: Called as ``on_epoch_end(epoch, logs)`` after each epoch, ``epoch``
            counted from 1 and ``logs`` a dict of floats; default prints one line per epoch.
            Pass ``lambda epoch, logs: None`` for silence.
        task: The task; only ``"binary"`` is implemented.

    Returns:
        A :class:`TrainResult`.

    Raises:
        InputError: For an empty frame, a missing label or feature column, a bad label,
            bad hyperparameters or a user module that does not fit (see
            :func:`check_model_fits`).
    """
    if isinstance(hparams, dict):
        hparams = Hyperparameters.from_dict(hparams)
    hparams = hparams or Hyperparameters()
    _check_frame(train_df, "train_df", label_column)
    _check_frame(eval_df, "eval_df", label_column)
    head = task_head(task)
    if feature_spec is None:
        feature_spec = infer_feature_spec(train_df, label_column)
    elif feature_spec.label != label_column:
        raise InputError(
            f"feature_spec.label is {feature_spec.label!r} but label_column is {label_column!r}"
        )
    feature_spec.check_columns(train_df, "train_df")
    feature_spec.check_columns(eval_df, "eval_df")

    y_train = encode_label(train_df[label_column], positive_label)
    seen = sorted(set(to_category_strings(train_df[label_column]).tolist()))
    pos = _match_label(positive_label, seen)
    neg = next(v for v in seen if v != pos)
    y_eval = encode_label(eval_df[label_column], pos, negative_label=neg)

    import tensorflow as tf
    import tf_keras

    skip_autograph_for_tf_keras()
    tf_keras.backend.clear_session()
    tf_keras.utils.set_random_seed(hparams.seed)
    tf.config.experimental.enable_op_determinism()

    strategy = select_strategy()
    with strategy.scope():
        if module_file is None:
            model = build_default_model(feature_spec, train_df, hparams, task=task)
            source = "default"
        else:
            model = _build_user_model(module_file, feature_spec, hparams, train_df, head)
            source = os.fspath(module_file)
        model.compile(
            optimizer=tf_keras.optimizers.Adam(learning_rate=hparams.learning_rate),
            loss=head.make_loss(),
            metrics=head.make_metrics(),
        )

    specs = model_input_specs(model)
    x_train = frame_to_inputs(train_df, specs)
    x_eval = frame_to_inputs(eval_df, specs)

    hook = on_epoch_end if on_epoch_end is not None else print_progress(hparams.epochs)
    patience = hparams.early_stopping_patience or hparams.epochs  # 0: never stop early
    callbacks = [
        tf_keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, mode="min", restore_best_weights=True
        ),
        tf_keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: hook(
                epoch + 1, {k: float(v) for k, v in (logs or {}).items()}
            )
        ),
    ]
    t0 = time.perf_counter()
    fit = model.fit(
        x_train,
        y_train,
        validation_data=(x_eval, y_eval),
        epochs=hparams.epochs,
        batch_size=hparams.batch_size,
        shuffle=True,
        callbacks=callbacks,
        verbose=0,
    )
    train_seconds = time.perf_counter() - t0

    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    val_loss = history.get("val_loss", [])
    finite = [v if math.isfinite(v) else math.inf for v in val_loss]
    best_epoch = int(np.argmin(finite)) + 1 if finite else len(history.get("loss", []))
    scores = predict_scores(model, eval_df)
    return TrainResult(
        model=model,
        feature_spec=feature_spec,
        hparams=hparams,
        task=task,
        label_column=label_column,
        positive_label=pos,
        negative_label=neg,
        history=history,
        eval_metrics=binary_metrics(y_eval, scores),
        eval_scores=scores,
        eval_labels=y_eval,
        param_count=int(model.count_params()),
        epochs_run=len(history.get("loss", [])),
        best_epoch=best_epoch,
        train_seconds=train_seconds,
        n_train=len(train_df),
        n_eval=len(eval_df),
        model_source=source,
    )


# ----------------------------------------------------------------------------- export


@dataclass
class ExportResult:
    """Where :func:`save_model` wrote the model, and how big it is.

    Attributes:
        saved_model_dir: The SavedModel (serving signature on raw features).
        keras_model_path: The Keras 2 model file (``.keras``, without optimizer state).
        metadata_path: JSON facts of the run, or ``""`` when saving a bare model.
        saved_model_bytes: Size of the SavedModel directory.
        keras_model_bytes: Size of the Keras file.
    """

    saved_model_dir: str
    keras_model_path: str
    metadata_path: str
    saved_model_bytes: int
    keras_model_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-friendly dict."""
        return dict(self.__dict__)


def serving_function(model: tf_keras.Model) -> Any:
    """Builds the serving ``tf.function``: named raw feature tensors -> ``{"scores": ...}``.

    Each input of shape ``(None, 1)`` is taken as a 1-D tensor (one value per example,
    the layout of TF Serving / KServe row requests) and reshaped for the model; a
    one-unit output is returned as a 1-D ``scores`` tensor.
    """
    import tensorflow as tf

    specs = {}
    rank2 = {}
    for name, dtype, shape in model_input_specs(model):
        rank2[name] = len(shape) == 2 and shape[-1] == 1
        sig_shape = [None] if rank2[name] else [None, *shape[1:]]
        specs[name] = tf.TensorSpec(sig_shape, dtype, name=name)

    @tf.function(input_signature=[specs])
    def serve(features):
        x = {k: (tf.reshape(v, [-1, 1]) if rank2[k] else v) for k, v in features.items()}
        y = model(x, training=False)
        if y.shape.rank == 2 and y.shape[-1] == 1:
            y = tf.reshape(y, [-1])
        return {SCORES_OUTPUT: y}

    return serve


def _tree_bytes(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def _uncompiled_copy(model: tf_keras.Model) -> tf_keras.Model:
    """A copy without optimizer and compile state, so the saved file holds the model only."""
    import tf_keras

    try:
        copy = tf_keras.Model.from_config(model.get_config())
        copy.set_weights(model.get_weights())
        return copy
    except Exception:  # custom layers without from_config: save the model as it is.
        return model


def save_model(result: Union[TrainResult, tf_keras.Model], output_dir: str) -> ExportResult:
    """Exports a trained model for serving and for compression.

    Writes, under ``output_dir`` (a local path; replaced if present):
    ``saved_model/`` (SavedModel whose ``serving_default`` signature takes the raw
    features as named 1-D tensors and returns ``{"scores": ...}``; also loadable with
    ``tf_keras.models.load_model``), ``keras_model.keras`` (the Keras 2 model, no optimizer
    state) and, for a :class:`TrainResult`, ``model_metadata.json``.

    Args:
        result: A :class:`TrainResult`, or a bare ``tf_keras.Model``.
        output_dir: The directory to write into.

    Returns:
        An :class:`ExportResult` with the paths and their sizes in bytes.
    """
    model = result.model if isinstance(result, TrainResult) else result
    os.makedirs(output_dir, exist_ok=True)
    sm_dir = os.path.join(output_dir, SAVED_MODEL_DIRNAME)
    keras_path = os.path.join(output_dir, KERAS_FILENAME)
    meta_path = os.path.join(output_dir, METADATA_FILENAME)
    for p in (sm_dir, keras_path, meta_path):
        _remove(p)

    model.save(
        sm_dir,
        save_format="tf",
        include_optimizer=False,
        signatures={SERVING_SIGNATURE: serving_function(model)},
    )
    _uncompiled_copy(model).save(keras_path)
    if isinstance(result, TrainResult):
        meta = result.summary()
        meta["serving"] = {
            "signature": SERVING_SIGNATURE,
            "output": SCORES_OUTPUT,
            "inputs": {n: d.name for n, d, _ in model_input_specs(model)},
        }
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=2, sort_keys=True)
    else:
        meta_path = ""
    return ExportResult(
        saved_model_dir=sm_dir,
        keras_model_path=keras_path,
        metadata_path=meta_path,
        saved_model_bytes=_tree_bytes(sm_dir),
        keras_model_bytes=_tree_bytes(keras_path),
    )


def load_keras_model(path: str) -> tf_keras.Model:
    """Loads the Keras model written by :func:`save_model` (uncompiled).

    Args:
        path: The ``output_dir`` given to :func:`save_model`, or the model file itself.

    Raises:
        InputError: When no model file is there.
    """
    import tf_keras

    file = os.path.join(path, KERAS_FILENAME) if os.path.isdir(path) else path
    if not os.path.exists(file):
        raise InputError(f"no Keras model at {file}")
    return tf_keras.models.load_model(file, compile=False)


def load_metadata(path: str) -> dict[str, Any]:
    """Reads ``model_metadata.json`` from a :func:`save_model` directory."""
    file = os.path.join(path, METADATA_FILENAME)
    if not os.path.exists(file):
        raise InputError(f"no model metadata at {file}")
    with open(file) as f:
        return json.load(f)


def predict_scores_saved_model(
    saved_model: Any, df: pd.DataFrame, signature: str = SERVING_SIGNATURE
) -> np.ndarray:
    """Scores raw DataFrame rows through a SavedModel's serving signature.

    Args:
        saved_model: A SavedModel directory, or an ``output_dir`` of :func:`save_model`,
            or an object returned by ``tf.saved_model.load``.
        df: Raw rows with the feature columns.
        signature: The signature to call.

    Returns:
        The ``scores`` output as a numpy array.
    """
    import tensorflow as tf

    loaded = saved_model
    if isinstance(saved_model, (str, os.PathLike)):
        path = os.fspath(saved_model)
        if os.path.isdir(os.path.join(path, SAVED_MODEL_DIRNAME)):
            path = os.path.join(path, SAVED_MODEL_DIRNAME)
        if not os.path.isdir(path):
            raise InputError(f"no SavedModel directory at {path}")
        loaded = tf.saved_model.load(path)
    if signature not in loaded.signatures:
        raise InputError(f"SavedModel has no signature {signature!r}: {list(loaded.signatures)}")
    fn = loaded.signatures[signature]
    kw_specs = fn.structured_input_signature[1]
    specs = [(spec.name or kw, spec.dtype, tuple(spec.shape)) for kw, spec in kw_specs.items()]
    arrays = frame_to_inputs(df, specs)
    kwargs = {
        kw: tf.constant(arrays[spec.name or kw], dtype=spec.dtype) for kw, spec in kw_specs.items()
    }
    return fn(**kwargs)[SCORES_OUTPUT].numpy()
