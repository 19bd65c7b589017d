"""Training logic of the ``train_model`` component: seeded training on raw rows, eval metrics.

Plain Python, no KFP: the component wrapper turns its inputs into a call of :func:`train`
and ``export.save_model``. Early stopping watches the loss on ``eval_df`` (as TFX's Trainer
validates on its eval split), and the reported eval metrics are computed on the same rows
with the best weights restored.

A user model comes from ``module_file`` (see :mod:`.user_model`); :mod:`.export` writes
the trained model's folder.

Process-wide effects of :func:`train`: it selects Keras 2 (``_shared.tf_setup``), seeds
Python, NumPy and TF, turns on TF op determinism (which stays on), and tells AutoGraph to
skip tf_keras internals (``skip_autograph_for_tf_keras``), which saves about 15 s of
tracing per process.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import numpy as np
import pandas as pd

from greenkfp.components._shared.binary_metrics import binary_metrics
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.labels import encode_label, match_label
from greenkfp.components._shared.model_inputs import (
    frame_to_inputs,
    model_input_specs,
    to_category_strings,
)
from greenkfp.components._shared.task_head import task_head
from greenkfp.components._shared.tf_setup import (
    import_tensorflow,
    import_tf_keras,
    skip_autograph_for_tf_keras,
)
from greenkfp.components.training.model import (
    FeatureSpec,
    Hyperparameters,
    build_default_model,
    infer_feature_spec,
)
from greenkfp.components.training.user_model import build_user_model

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

EpochHook = Callable[[int, dict], None]


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
    tf = import_tensorflow()
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
    pos = match_label(positive_label, seen)
    neg = next(v for v in seen if v != pos)
    y_eval = encode_label(eval_df[label_column], pos, negative_label=neg)

    tf = import_tensorflow()
    tf_keras = import_tf_keras()
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
            model = build_user_model(module_file, feature_spec, hparams, train_df, head)
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
