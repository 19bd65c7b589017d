"""Feature specification, hyperparameters and the default tabular Keras 2 model.

The default model carries its preprocessing inside the graph: one named input per raw
feature, ``Normalization`` (adapted on the training data) plus mean imputation for numeric
features, and ``StringLookup`` with an out-of-vocabulary bucket for categorical ones. The
exported model therefore takes raw values, missing ones included: ``NaN`` for a missing
number, ``""`` for a missing category (or an unseen one: both land in the OOV bucket).

TensorFlow and tf_keras are imported inside the functions (through ``_shared.tf_setup``,
which selects Keras 2), so that importing this module (for :class:`FeatureSpec` or
:class:`Hyperparameters`) stays cheap. How raw values become model inputs, and the task's
output head, are the model contract in ``components/_shared``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_artifact import FEATURES_LAYER
from greenkfp.components._shared.model_inputs import (
    input_name,
    to_category_strings,
    to_numeric_array,
)
from greenkfp.components._shared.task_head import task_head
from greenkfp.components._shared.tf_setup import import_tensorflow, import_tf_keras

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

# Categorical features with at most this many known values are one-hot encoded; larger
# vocabularies go through an Embedding.
ONE_HOT_MAX_VOCAB = 32
# At most this many most frequent values of a categorical feature get their own index; the
# rest share the out-of-vocabulary bucket with unseen and missing values.
MAX_VOCAB = 10_000
#: Rows per step when ``Normalization`` layers adapt to the training data.
ADAPT_BATCH_ROWS = 65_536
# Name of the output layer of the default model.
OUTPUT_NAME = "score"


@dataclass
class FeatureSpec:
    """Which columns feed the model, and how.

    Attributes:
        numeric: Columns fed as float32 numbers (normalized inside the model).
        categorical: Columns fed as strings (looked up in a vocabulary inside the model).
        label: The label column.
    """

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    label: str = ""

    def __post_init__(self) -> None:
        self.numeric = [str(c) for c in self.numeric]
        self.categorical = [str(c) for c in self.categorical]
        self.label = str(self.label)
        if not self.label:
            raise InputError("FeatureSpec.label: the label column name is empty")
        if not self.features:
            raise InputError("FeatureSpec: no feature columns (numeric and categorical are empty)")
        both = sorted(set(self.numeric) & set(self.categorical))
        if both:
            raise InputError(f"FeatureSpec: columns listed as numeric and categorical: {both}")
        dupes = sorted({c for c in self.features if self.features.count(c) > 1})
        if dupes:
            raise InputError(f"FeatureSpec: columns listed twice: {dupes}")
        if self.label in self.features:
            raise InputError(f"FeatureSpec: the label column {self.label!r} is also a feature")
        seen: dict[str, str] = {}
        for col in self.features:
            name = input_name(col)
            if name in seen:
                raise InputError(
                    f"FeatureSpec: columns {seen[name]!r} and {col!r} map to the same model "
                    f"input name {name!r}; rename one"
                )
            seen[name] = col

    @property
    def features(self) -> list[str]:
        """All feature columns, numeric first, in model input order."""
        return list(self.numeric) + list(self.categorical)

    def input_names(self) -> dict[str, str]:
        """Maps every feature column to its model input name (see :func:`input_name`)."""
        return {col: input_name(col) for col in self.features}

    def check_columns(self, df: pd.DataFrame, what: str = "data", label: bool = True) -> None:
        """Raises :class:`InputError` naming the spec columns a DataFrame lacks.

        Args:
            df: The DataFrame to check.
            what: How to call the DataFrame in the message (``"train_df"``, ...).
            label: Whether the label column is required too.
        """
        needed = self.features + ([self.label] if label else [])
        missing = [c for c in needed if c not in df.columns]
        if missing:
            raise InputError(
                f"{what} lacks columns {missing} of the feature spec; it has {list(df.columns)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-friendly dict."""
        return {
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        """Builds a spec from :meth:`to_dict` output."""
        return cls(
            numeric=list(d.get("numeric", [])),
            categorical=list(d.get("categorical", [])),
            label=d.get("label", ""),
        )


def infer_feature_spec(
    df: pd.DataFrame, label_column: str, categorical: Optional[Sequence[str]] = None
) -> FeatureSpec:
    """Infers a feature spec from column dtypes.

    String-like columns (object, string, category, bool) become categorical, numeric ones
    numeric, except the numeric columns named in ``categorical`` (codes such as a job
    level 0-3). Every column other than the label is a feature.

    Args:
        df: Training data.
        label_column: The label column (left out of the features).
        categorical: Columns to treat as categorical whatever their dtype.

    Returns:
        The inferred :class:`FeatureSpec`.

    Raises:
        InputError: When the label or a column named in ``categorical`` is missing, or a
            column has a dtype that is neither numeric nor string-like (e.g. datetime).
    """
    if label_column not in df.columns:
        raise InputError(f"label column {label_column!r} not found; columns: {list(df.columns)}")
    forced = [str(c) for c in (categorical or [])]
    unknown = [c for c in forced if c not in df.columns]
    if unknown:
        raise InputError(
            f"columns named as categorical are not in the data: {unknown}; "
            f"columns: {list(df.columns)}"
        )
    if label_column in forced:
        raise InputError(f"the label column {label_column!r} cannot be a categorical feature")
    numeric: list[str] = []
    cats: list[str] = []
    for col in df.columns:
        if col == label_column:
            continue
        dtype = df[col].dtype
        if col in forced or pd.api.types.is_bool_dtype(dtype):
            cats.append(str(col))
        elif pd.api.types.is_numeric_dtype(dtype):
            numeric.append(str(col))
        elif (
            pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
        ):
            cats.append(str(col))
        else:
            raise InputError(
                f"column {col!r} has dtype {dtype}, neither numeric nor string; "
                "convert or drop it before training"
            )
    return FeatureSpec(numeric=numeric, categorical=cats, label=str(label_column))


@dataclass
class Hyperparameters:
    """Training hyperparameters, checked on creation.

    Attributes:
        epochs: Maximum number of epochs (>= 1), or 0 to choose it from the training rows
            (see :func:`auto_epochs`).
        batch_size: Examples per step (>= 1), or 0 to choose it from the training rows
            (see :func:`auto_batch_size`).
        learning_rate: Adam learning rate (> 0, <= 1).
        hidden_units: Width of each hidden Dense layer; empty means a linear model.
        dropout: Dropout rate after each hidden layer, in [0, 1).
        early_stopping_patience: Epochs without improvement of the validation loss before
            stopping (>= 0; 0 turns early stopping off, the best epoch is still restored).
        seed: Seed for weights, shuffling, dropout and the validation carve (>= 0).
        validation_fraction: Share of the training rows carved out (seeded, stratified by
            label) as validation rows for early stopping and best-epoch choice, in (0, 0.5].
        max_validation_rows: Most validation rows (>= 1): validation stays a bounded sample
            on large data; the rest train.
        deterministic: Turn on TensorFlow op determinism, so that a seed gives the same
            weights run after run; off lets some kernels (GPU ones above all) run faster.
        max_training_minutes: Wall-time budget of ``fit`` in minutes (>= 0; 0: none).
            Training stops after the epoch in which it runs out, best weights restored.
    """

    epochs: int = 0
    batch_size: int = 0
    learning_rate: float = 1e-3
    hidden_units: Sequence[int] = (64, 32)
    dropout: float = 0.1
    early_stopping_patience: int = 5
    seed: int = 42
    validation_fraction: float = 0.1
    max_validation_rows: int = 10_000
    deterministic: bool = True
    max_training_minutes: float = 0.0

    def __post_init__(self) -> None:
        self.epochs = _check_int("epochs", self.epochs, 0)
        self.batch_size = _check_int("batch_size", self.batch_size, 0)
        self.max_validation_rows = _check_int("max_validation_rows", self.max_validation_rows, 1)
        self.validation_fraction = _check_float("validation_fraction", self.validation_fraction)
        if not 0.0 < self.validation_fraction <= 0.5:
            raise InputError(
                f"validation_fraction must be in (0, 0.5], got {self.validation_fraction}"
            )
        if not isinstance(self.deterministic, (bool, np.bool_)):
            raise InputError(f"deterministic must be true or false, got {self.deterministic!r}")
        self.deterministic = bool(self.deterministic)
        self.max_training_minutes = _check_float("max_training_minutes", self.max_training_minutes)
        if self.max_training_minutes < 0:
            raise InputError(
                f"max_training_minutes must be >= 0 (0: no budget), got {self.max_training_minutes}"
            )
        self.early_stopping_patience = _check_int(
            "early_stopping_patience", self.early_stopping_patience, 0
        )
        self.seed = _check_int("seed", self.seed, 0)
        self.learning_rate = _check_float("learning_rate", self.learning_rate)
        if not 0.0 < self.learning_rate <= 1.0:
            raise InputError(f"learning_rate must be in (0, 1], got {self.learning_rate}")
        self.dropout = _check_float("dropout", self.dropout)
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}")
        units = self.hidden_units
        if isinstance(units, (int, str)) or not isinstance(units, Sequence):
            raise InputError(f"hidden_units must be a list of positive integers, got {units!r}")
        self.hidden_units = tuple(_check_int("hidden_units", u, 1) for u in units)

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-friendly dict."""
        d = asdict(self)
        d["hidden_units"] = list(self.hidden_units)
        return d

    def resolved(self, train_rows: int) -> Hyperparameters:
        """A copy with ``epochs`` and ``batch_size`` of 0 chosen for ``train_rows`` rows."""
        return replace(
            self,
            epochs=self.epochs or auto_epochs(train_rows),
            batch_size=self.batch_size or auto_batch_size(train_rows),
        )

    @classmethod
    def from_dict(cls, d: Optional[dict[str, Any]]) -> Hyperparameters:
        """Builds hyperparameters from a dict, defaults for absent keys.

        Raises:
            InputError: When a key is not a hyperparameter, or a value is out of range.
        """
        d = dict(d or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown hyperparameters {unknown}; known: {sorted(known)}")
        return cls(**d)


# Auto batch size: the smallest of these that keeps an epoch within AUTO_STEPS_PER_EPOCH steps.
AUTO_BATCH_SIZES = (32, 64, 128, 256, 512, 1024)
AUTO_STEPS_PER_EPOCH = 200
# Auto epochs: AUTO_MAX_EPOCHS up to AUTO_FULL_EPOCHS_ROWS training rows; above, about
# AUTO_MAX_EPOCHS * AUTO_FULL_EPOCHS_ROWS examples in all, and never fewer than AUTO_MIN_EPOCHS.
AUTO_MAX_EPOCHS = 30
AUTO_FULL_EPOCHS_ROWS = 20_000
AUTO_MIN_EPOCHS = 5


def auto_batch_size(train_rows: int) -> int:
    """Batch size for ``train_rows`` rows: 32 up to 6,400 rows, doubling up to 1,024.

    The smallest of :data:`AUTO_BATCH_SIZES` whose epoch has at most
    :data:`AUTO_STEPS_PER_EPOCH` steps, else the largest: 720 rows get 32 (23 steps),
    90,000 rows 512 (176 steps), 1,000,000 rows 1,024 (977 steps).
    """
    for size in AUTO_BATCH_SIZES:
        if math.ceil(train_rows / size) <= AUTO_STEPS_PER_EPOCH:
            return size
    return AUTO_BATCH_SIZES[-1]


def auto_epochs(train_rows: int) -> int:
    """Maximum epochs for ``train_rows`` rows: 30 up to 20,000 rows, then fewer, at least 5.

    Above :data:`AUTO_FULL_EPOCHS_ROWS` rows the epochs are
    ``ceil(30 * 20,000 / rows)``, at least :data:`AUTO_MIN_EPOCHS`: 90,000 rows get 7,
    180,000 rows and more get 5. Early stopping may end training sooner.
    """
    if train_rows <= AUTO_FULL_EPOCHS_ROWS:
        return AUTO_MAX_EPOCHS
    wanted = math.ceil(AUTO_MAX_EPOCHS * AUTO_FULL_EPOCHS_ROWS / max(train_rows, 1))
    return max(AUTO_MIN_EPOCHS, wanted)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_float(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise InputError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value!r}")
    return value


def categorical_vocabulary(values: Any, max_size: int = MAX_VOCAB) -> list[str]:
    """Returns the vocabulary of a categorical column: most frequent first, ties by value.

    Missing values (``""`` after :func:`to_category_strings`) are left out: they go to the
    out-of-vocabulary bucket.
    """
    strings = pd.Series(to_category_strings(values), dtype=object)
    counts = strings[strings != ""].value_counts()
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [v for v, _ in ordered[:max_size]]


def build_default_model(
    feature_spec: FeatureSpec,
    train_df: pd.DataFrame,
    hparams: Optional[Hyperparameters] = None,
    task: str = "binary",
) -> tf_keras.Model:
    """Builds the default tabular network, its preprocessing fitted on ``train_df``.

    Inputs: one per feature, named by :func:`input_name`, shape ``(1,)``; float32 for
    numeric features, ``tf.string`` for categorical ones. Numeric features are normalized
    with statistics of the non-missing training values and a missing value (``NaN``) is
    imputed with the training mean (0 after normalization). Categorical features go through
    ``StringLookup`` with one OOV bucket (missing ``""`` and unseen values), then one-hot
    (up to :data:`ONE_HOT_MAX_VOCAB` values) or an Embedding. All are concatenated and fed
    to ReLU Dense layers with dropout, then the task's output layer. The encoded vector is
    the output of the layer named :data:`FEATURES_LAYER`, where compression splits the model.

    The model is not compiled. It uses only built-in layers and TF ops, so it saves and
    reloads without custom objects.

    Args:
        feature_spec: Which columns are numeric and categorical.
        train_df: Training data, used for normalization statistics and vocabularies.
        hparams: Hyperparameters (``hidden_units`` and ``dropout`` are used here).
        task: The task, see :func:`task_head`.

    Returns:
        An uncompiled functional ``tf_keras.Model``.

    Raises:
        InputError: When ``train_df`` is empty or lacks a feature column, or a categorical
            column has no value at all in it.
    """
    tf = import_tensorflow()
    tf_keras = import_tf_keras()
    hparams = hparams or Hyperparameters()
    head = task_head(task)
    if len(train_df) == 0:
        raise InputError("train_df is empty: cannot fit the preprocessing of the model")
    feature_spec.check_columns(train_df, "train_df", label=False)

    inputs: dict[str, Any] = {}
    encoded = []
    for col in feature_spec.numeric:
        name = input_name(col)
        inp = tf_keras.Input(shape=(1,), dtype=tf.float32, name=name)
        inputs[name] = inp
        values = to_numeric_array(train_df[col], col)
        present = values[~np.isnan(values)]
        if present.size:
            norm = tf_keras.layers.Normalization(axis=-1, name=f"{name}_norm")
            # Rows per adapt step: Keras' default of 32 makes 22,500 steps of 1M rows
            # (about 20 s per feature); the statistics are the same (float rounding).
            norm.adapt(present.reshape(-1, 1), batch_size=ADAPT_BATCH_ROWS)
        else:  # no value seen: every input is imputed to 0.
            norm = tf_keras.layers.Normalization(
                axis=-1, mean=0.0, variance=1.0, name=f"{name}_norm"
            )
        z = norm(inp)
        # Mean imputation: a missing value normalizes to NaN, replaced by 0 (= the mean).
        z = tf.where(tf.math.is_nan(z), tf.zeros_like(z), z)
        encoded.append(z)
    for col in feature_spec.categorical:
        name = input_name(col)
        inp = tf_keras.Input(shape=(1,), dtype=tf.string, name=name)
        inputs[name] = inp
        vocab = categorical_vocabulary(train_df[col])
        if not vocab:
            raise InputError(
                f"categorical column {col!r} has no value in train_df (all missing); drop it"
            )
        lookup = tf_keras.layers.StringLookup(
            vocabulary=vocab, num_oov_indices=1, output_mode="int", name=f"{name}_lookup"
        )
        if len(vocab) <= ONE_HOT_MAX_VOCAB:
            # tf.one_hot rather than output_mode="one_hot": the latter lowers to
            # DenseBincount, which TFLite has no builtin kernel for.
            index = tf.squeeze(lookup(inp), axis=-1)
            encoded.append(tf.one_hot(index, depth=len(vocab) + 1, dtype=tf.float32))
        else:
            dim = int(min(16, max(2, round(1.6 * (len(vocab) + 1) ** 0.56))))
            emb = tf_keras.layers.Embedding(len(vocab) + 1, dim, name=f"{name}_embedding")
            encoded.append(tf_keras.layers.Flatten(name=f"{name}_flat")(emb(lookup(inp))))

    # The layer named FEATURES_LAYER ends the preprocessing: compression splits the model there.
    if len(encoded) == 1:
        x = tf_keras.layers.Identity(name=FEATURES_LAYER)(encoded[0])
    else:
        x = tf_keras.layers.Concatenate(name=FEATURES_LAYER)(encoded)
    for i, units in enumerate(hparams.hidden_units):
        x = tf_keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
        if hparams.dropout > 0:
            x = tf_keras.layers.Dropout(hparams.dropout, name=f"dropout_{i}")(x)
    out = tf_keras.layers.Dense(head.output_units, activation=head.activation, name=OUTPUT_NAME)(x)
    return tf_keras.Model(inputs=inputs, outputs=out, name=f"greenkfp_tabular_{task}")
