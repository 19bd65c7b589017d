"""Raw DataFrame rows turned into the named arrays a model takes: the model's input contract.

A model of this library has one input per raw feature, named by :func:`input_name`,
float32 for numbers (``NaN`` when missing) and ``tf.string`` for categories (``""`` when
missing). Training, compression, the predictors and fairness slicing all go through these
functions, so a value means the same thing at every step. Nothing here imports TensorFlow:
dtypes come in with the specs.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

_INPUT_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_]")


def input_name(column: str) -> str:
    """Returns the model input name for a column: valid as a TF node and signature name.

    Characters other than letters, digits and ``_`` become ``_``; a name that does not
    start with a letter gets the prefix ``f_``. ``credit_amount`` stays ``credit_amount``,
    ``capital-gain`` becomes ``capital_gain``.
    """
    name = _INPUT_NAME_BAD_CHARS.sub("_", str(column))
    if not name or not name[0].isalpha():
        name = "f_" + name
    return name


def to_category_strings(values: Any) -> np.ndarray:
    """Turns raw categorical values into the strings the model's ``StringLookup`` sees.

    Missing values (``None``, ``NaN``) become ``""``; numbers with an integral value are
    written without a decimal part (``2`` and ``2.0`` both become ``"2"``, so an integer
    column read back as float because of a missing cell keeps its categories); strings are
    stripped.

    Args:
        values: A pandas Series, list or array of raw values.

    Returns:
        A 1-D numpy array of Python strings (dtype object).
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    if _one_value_type(series):
        # Each distinct value is converted once: linear in rows, not a Python call per row.
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        strings = [_category_string(v) for v in uniques]
        return np.asarray([*strings, ""], dtype=object)[codes]  # code -1 (missing) -> ""
    return np.asarray([_category_string(v) for v in series.tolist()], dtype=object)


def _one_value_type(series: pd.Series) -> bool:
    """Whether every present value has one type, so equal values convert alike.

    ``True == 1 == 1.0`` would put values that convert differently under one code of
    ``pd.factorize``; a numeric or boolean dtype, or strings only, cannot mix them.
    """
    if series.dtype.kind in "biuf":
        return True
    return series.dtype.kind == "O" and pd.api.types.infer_dtype(series, skipna=True) in (
        "string",
        "empty",
    )


def _category_string(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bytes):
        v = v.decode("utf-8")
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return ""
        if math.isfinite(v) and float(v).is_integer():
            return str(int(v))
        return repr(float(v))
    try:
        if pd.isna(v):
            return ""
    except (TypeError, ValueError):
        pass
    return str(v).strip()


def to_numeric_array(values: Any, column: str) -> np.ndarray:
    """Turns raw numeric values into float32, missing values as ``NaN``.

    Args:
        values: A pandas Series (or sequence) of numbers; empty strings count as missing.
        column: The column name, for the error message.

    Returns:
        A 1-D float32 numpy array.

    Raises:
        InputError: When a value is not a number.
    """
    s = pd.Series(values)
    if s.dtype == object:
        s = s.map(lambda v: np.nan if isinstance(v, str) and not v.strip() else v)
    try:
        return pd.to_numeric(s, errors="raise").to_numpy(dtype=np.float32, na_value=np.nan)
    except (ValueError, TypeError) as e:
        raise InputError(f"numeric feature column {column!r} holds a non-number: {e}") from e


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
