"""Binary labels as the models of this library see them: the positive class is 1.

Training encodes the label column with :func:`encode_label`, and every later step
(compression's quality check, fairness evaluation) encodes it again the same way from the
positive and negative labels the model's metadata records.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_inputs import to_category_strings


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
    pos = match_label(positive_label, seen)
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
        neg = match_label(negative_label, seen)
        extra = [v for v in seen if v not in (pos, neg)]
        if extra:
            raise InputError(
                f"label column {name!r} holds values {_preview(extra)} besides the classes "
                f"{[pos, neg]} of the training data"
            )
    return (strings == pos).astype(np.int64)


def match_label(label: Any, seen: list[str]) -> str:
    """Returns the value among ``seen`` that ``label`` names, else its canonical string.

    Labels compare as :func:`to_category_strings` writes them; ``"1.0"`` also matches
    ``"1"`` and vice versa.
    """
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
