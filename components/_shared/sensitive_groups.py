"""The group each row falls in for one sensitive feature: its category, or its bucket.

Categorical sensitive features group rows by their values as they are; numeric ones by
buckets between boundaries (``[25, 40, 60]`` gives ``<25``, ``[25, 40)``, ``[40, 60)``
and ``>=60``). Missing values form their own group, ``(missing)``. The fairness
evaluation slices by these groups, and per-group decision thresholds are keyed by them,
so a model's thresholds apply to exactly the groups its gaps were measured on.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_inputs import to_category_strings
from greenkfp.components._shared.step_keys import threshold_label

CROSS_SEPARATOR = "_x_"
"""Joins the features of a cross into its name: ``sex_x_age``."""

MISSING_SLICE = "(missing)"
"""Slice value of rows whose sensitive feature is missing."""


def bucket_labels(boundaries: Sequence[float]) -> list[str]:
    """Names the buckets that boundaries cut a number line into, lowest first.

    ``[25, 40, 60]`` gives ``["<25", "[25, 40)", "[40, 60)", ">=60"]``: each bucket holds
    its lower boundary and not its upper one.
    """
    b = [threshold_label(v) for v in boundaries]
    inner = [f"[{lo}, {hi})" for lo, hi in zip(b, b[1:])]
    return [f"<{b[0]}", *inner, f">={b[-1]}"]


def bucketize(values: pd.Series, boundaries: Sequence[float]) -> np.ndarray:
    """Puts numbers into the buckets of :func:`bucket_labels`; missing ones in ``(missing)``.

    Raises:
        InputError: A value that is not a number.
    """
    numbers = pd.to_numeric(values.replace("", np.nan), errors="coerce")
    bad = numbers.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        found = sorted({str(v) for v in values[bad].head(5)})
        raise InputError(
            f"column {values.name!r} has feature_buckets but holds values that are not "
            f"numbers: {found}"
        )
    labels = np.asarray(bucket_labels(boundaries), dtype=object)
    index = np.searchsorted(np.asarray(boundaries, dtype=float), numbers.to_numpy(), "right")
    out = labels[np.minimum(index, len(labels) - 1)]
    out[numbers.isna().to_numpy()] = MISSING_SLICE
    return out


def group_values(values: pd.Series, boundaries: Optional[Sequence[float]] = None) -> np.ndarray:
    """Returns each row's group: its bucket when ``boundaries`` are given, else its category.

    Raises:
        InputError: A bucketed column holding text.
    """
    if boundaries:
        return bucketize(values, boundaries)
    out = to_category_strings(values)
    out[out == ""] = MISSING_SLICE
    return out
