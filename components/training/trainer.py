"""Training logic of the ``train_model`` component: seeded training on raw rows, eval metrics.

Plain Python, no KFP: the component wrapper turns its inputs into a call of :func:`train`
and ``export.save_model``. Which rows serve what:

* validation rows are carved from ``train_df`` (``_shared.holdout.carve_validation``:
  seeded, stratified, at most ``max_validation_rows``); early stopping and the choice of
  the best epoch's weights look only at them;
* the rest of ``train_df`` trains the model (and fits its preprocessing);
* ``eval_df`` is used once, after training, for the reported eval metrics: no choice made
  while training sees it.

Batch size and epochs of 0 are chosen from the training rows (``model.auto_batch_size``,
``model.auto_epochs``); rows reach ``fit`` through ``tf.data`` (shuffled row indices,
gathered per batch, prefetched). ``max_training_minutes`` stops training after the epoch in
which the budget runs out, with the best epoch's weights restored.

A user model comes from ``module_file`` (see :mod:`.user_model`); :mod:`.export` writes
the trained model's folder.

Process-wide effects of :func:`train`: it selects Keras 2 (``_shared.tf_setup``), seeds
Python, NumPy and TF, turns TF op determinism on or off (``hparams.deterministic``; it
stays so), and tells AutoGraph to skip tf_keras internals (``skip_autograph_for_tf_keras``),
which saves about 15 s of tracing per process.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

import numpy as np
import pandas as pd

from greenkfp.components._shared import reweighing
from greenkfp.components._shared.binary_metrics import binary_metrics
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.holdout import carve_validation
from greenkfp.components._shared.labels import encode_label, match_label
from greenkfp.components._shared.model_inputs import (
    frame_to_inputs,
    model_input_specs,
    to_category_strings,
)
from greenkfp.components._shared.progress import report
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
        epochs_run: Epochs actually run (early stopping or the time budget may cut them).
        best_epoch: The 1-based epoch whose weights were kept (lowest validation loss).
        train_seconds: Wall time of ``fit``.
        n_train: Rows that trained the model (``train_df`` less the validation rows).
        n_eval: Evaluation rows.
        model_source: ``"default"`` or the module file path.
        n_validation: Validation rows carved from ``train_df``.
        stopped_by_time_budget: Whether ``max_training_minutes`` ended training.
        validation_positions: Positions in ``train_df`` of the validation rows.
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
    n_validation: int = 0
    stopped_by_time_budget: bool = False
    validation_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

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
            "n_validation": self.n_validation,
            "stopped_by_time_budget": self.stopped_by_time_budget,
            "model_source": self.model_source,
        }


def print_progress(
    total_epochs: int,
    time_budget_s: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
) -> EpochHook:
    """Returns the default epoch hook: one flushed line per epoch.

    For example ``epoch 3/30 loss=0.5100 auc=0.7800 val_loss=0.5500 val_auc=0.7000
    elapsed 0:12 left ~1:48``. Elapsed time counts from the hook's creation (just before
    ``fit``); the time left is the mean epoch time times the epochs left, at most the
    time budget's rest (early stopping may end sooner).

    Args:
        total_epochs: The most epochs training runs.
        time_budget_s: The training time budget in seconds (0: none).
        clock: Seconds, monotonic (a stand-in in tests).
    """
    start = clock()

    def hook(epoch: int, logs: dict) -> None:
        parts = [f"{k}={logs[k]:.4f}" for k in ("loss", "auc", "val_loss", "val_auc") if k in logs]
        elapsed = clock() - start
        left = elapsed / max(epoch, 1) * (total_epochs - epoch)
        if time_budget_s > 0:
            left = max(0.0, min(left, time_budget_s - elapsed))
        timing = f"elapsed {_clock_text(elapsed)} left ~{_clock_text(left)}"
        report(f"epoch {epoch}/{total_epochs} " + " ".join(parts + [timing]))

    return hook


def _clock_text(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss`` from an hour on) of a duration in seconds."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


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
    reweigh_features: Sequence[str] = (),
) -> TrainResult:
    """Trains a model on raw tabular data, deterministically for a given seed.

    Carves validation rows from ``train_df`` (seeded, stratified, see the module
    docstring) and trains on the rest; early stopping and the best epoch's weights are
    chosen on the validation rows only. Seeds Python, NumPy and TensorFlow and, when
    ``hparams.deterministic``, turns on TensorFlow op determinism, so two runs with the
    same data and hyperparameters give the same weights. ``eval_df`` gives the eval
    metrics after training and nothing else.

    Args:
        train_df: Training rows (features and label); validation rows are carved from it.
        eval_df: Evaluation rows (same columns), for the final eval metrics only.
        label_column: The label column.
        positive_label: The label value of the positive class (``1``, ``"yes"``, ...).
        hparams: Hyperparameters, or a dict of them; defaults when ``None``. Epochs and
            batch size of 0 are chosen from the training rows (the result holds the values
            used).
        feature_spec: The features; inferred from ``train_df`` dtypes when ``None``.
        module_file: A Python file defining ``build_model(feature_spec, hparams)``; the
            default model when ``None``.
        on_epoch_end: Called as ``on_epoch_end(epoch, logs)`` after each epoch, ``epoch``
            counted from 1 and ``logs`` a dict of floats; default prints one line per epoch
            (:func:`print_progress`). Pass ``lambda epoch, logs: None`` for silence.
        task: The task; only ``"binary"`` is implemented.
        reweigh_features: Sensitive features; when given, the training rows are weighed
            by reweighing (``_shared.reweighing``: ``P(g)P(y)/P(g,y)`` over their
            intersection); the validation rows stay unweighted.

    Returns:
        A :class:`TrainResult`.

    Raises:
        InputError: For an empty frame, a missing label or feature column, a bad label,
            bad hyperparameters, too few training rows to carve validation rows from, or a
            user module that does not fit (see :func:`check_model_fits`).
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

    y_all = encode_label(train_df[label_column], positive_label)
    seen = sorted(set(to_category_strings(train_df[label_column]).tolist()))
    pos = match_label(positive_label, seen)
    neg = next(v for v in seen if v != pos)
    y_eval = encode_label(eval_df[label_column], pos, negative_label=neg)
    fit_positions, validation_positions = carve_validation(
        y_all, hparams.validation_fraction, hparams.seed, hparams.max_validation_rows
    )
    fit_df = train_df.iloc[fit_positions].reset_index(drop=True)
    validation_df = train_df.iloc[validation_positions].reset_index(drop=True)
    y_fit, y_validation = y_all[fit_positions], y_all[validation_positions]
    hparams = hparams.resolved(len(fit_df))

    tf_keras = import_tf_keras()
    skip_autograph_for_tf_keras()
    tf_keras.backend.clear_session()
    tf_keras.utils.set_random_seed(hparams.seed)
    set_op_determinism(hparams.deterministic)

    strategy = select_strategy()
    with strategy.scope():
        if module_file is None:
            model = build_default_model(feature_spec, fit_df, hparams, task=task)
            source = "default"
        else:
            model = build_user_model(module_file, feature_spec, hparams, fit_df, head)
            source = os.fspath(module_file)
        model.compile(
            optimizer=tf_keras.optimizers.Adam(learning_rate=hparams.learning_rate),
            loss=head.make_loss(),
            metrics=head.make_metrics(),
        )

    specs = model_input_specs(model)
    fit_weights = None
    if reweigh_features:
        fit_weights = reweighing.weights(reweighing.row_groups(fit_df, reweigh_features), y_fit)
    fit_data = batches(
        frame_to_inputs(fit_df, specs),
        y_fit,
        hparams.batch_size,
        shuffle_seed=hparams.seed,
        weights=fit_weights,
    )
    validation_data = batches(
        frame_to_inputs(validation_df, specs), y_validation, VALIDATION_BATCH_SIZE
    )

    budget_s = hparams.max_training_minutes * 60.0
    hook = on_epoch_end if on_epoch_end is not None else print_progress(hparams.epochs, budget_s)
    patience = hparams.early_stopping_patience or hparams.epochs  # 0: never stop early
    time_budget = TimeBudget(budget_s)
    callbacks = [
        # Restores the lowest-val_loss epoch's weights at the end of training, however it
        # ends (all epochs, patience, or the time budget).
        tf_keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, mode="min", restore_best_weights=True
        ),
        tf_keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: hook(
                epoch + 1, {k: float(v) for k, v in (logs or {}).items()}
            )
        ),
        time_budget.callback(),
    ]
    t0 = time.perf_counter()
    fit = model.fit(
        fit_data,
        validation_data=validation_data,
        epochs=hparams.epochs,
        callbacks=callbacks,
        verbose=0,
    )
    train_seconds = time.perf_counter() - t0

    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    val_loss = history.get("val_loss", [])
    finite = [v if math.isfinite(v) else math.inf for v in val_loss]
    best_epoch = int(np.argmin(finite)) + 1 if finite else len(history.get("loss", []))
    epochs_run = len(history.get("loss", []))
    if time_budget.stopped:
        report(
            f"training stopped by its time budget ({hparams.max_training_minutes:g} min) "
            f"after epoch {epochs_run}/{hparams.epochs}; kept the weights of epoch "
            f"{best_epoch} (lowest validation loss)"
        )
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
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        train_seconds=train_seconds,
        n_train=len(fit_df),
        n_eval=len(eval_df),
        model_source=source,
        n_validation=len(validation_df),
        stopped_by_time_budget=time_budget.stopped,
        validation_positions=validation_positions,
    )


# Rows per validation batch: one pass over the (bounded) validation rows per epoch.
VALIDATION_BATCH_SIZE = 1024


def batches(
    inputs: dict[str, np.ndarray],
    labels: np.ndarray,
    batch_size: int,
    shuffle_seed: Optional[int] = None,
    weights: Optional[np.ndarray] = None,
) -> Any:
    """A prefetched ``tf.data`` dataset of ``(inputs, labels)`` batches.

    With ``weights``, the batches are ``(inputs, labels, sample_weights)``.

    With ``shuffle_seed``, the row order is reshuffled every epoch (seeded): row indices
    are shuffled, not the rows, and each batch gathers its rows, so the shuffle buffer
    holds one integer per row whatever the width of the data.

    Args:
        inputs: Model inputs by name (one array per input, a row per example).
        labels: Targets, a row per example.
        batch_size: Rows per batch.
        shuffle_seed: Seed of the shuffle; ``None`` keeps the rows in order.
        weights: Sample weights, a row per example, or ``None``.
    """
    tf = import_tensorflow()
    features = {name: tf.constant(values) for name, values in inputs.items()}
    targets = tf.constant(np.asarray(labels, dtype=np.float32))
    rows = len(labels)
    order = tf.data.Dataset.range(rows)
    if shuffle_seed is not None:
        order = order.shuffle(rows, seed=shuffle_seed, reshuffle_each_iteration=True)

    sample_weights = None if weights is None else tf.constant(np.asarray(weights, np.float32))

    def gather(index: Any) -> Any:
        picked = {name: tf.gather(values, index) for name, values in features.items()}
        if sample_weights is not None:
            return picked, tf.gather(targets, index), tf.gather(sample_weights, index)
        return picked, tf.gather(targets, index)

    return order.batch(batch_size).map(gather).prefetch(tf.data.AUTOTUNE)


def set_op_determinism(enabled: bool) -> None:
    """Turns TensorFlow op determinism on or off for this process."""
    tf = import_tensorflow()
    if enabled:
        tf.config.experimental.enable_op_determinism()
        return
    # TF 2.16 exports no switch back off; the config module behind the exported one has it.
    from tensorflow.python.framework import config as tf_config

    tf_config.disable_op_determinism()


class TimeBudget:
    """Stops ``fit`` after the epoch in which ``seconds`` of training have passed (0: never)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.stopped = False
        self._start = clock()

    def callback(self) -> Any:
        """The Keras callback that applies the budget."""
        tf_keras = import_tf_keras()
        budget = self

        class _Budget(tf_keras.callbacks.Callback):
            def on_train_begin(self, logs: Optional[dict] = None) -> None:
                budget._start = budget.clock()

            def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
                if budget.spent() and not self.model.stop_training:
                    budget.stopped = True
                    self.model.stop_training = True

        return _Budget()

    def spent(self) -> bool:
        """Whether the budget has run out."""
        return self.seconds > 0 and self.clock() - self._start >= self.seconds


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
