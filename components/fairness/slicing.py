"""Which slices a fairness evaluation looks at, and the slice columns TFMA slices on.

Categorical sensitive features are sliced on their values as they are; numeric ones are
bucketed by boundaries (``{"age": [25, 40, 60]}`` gives ``<25``, ``[25, 40)``,
``[40, 60)`` and ``>=60``), and the bucketed column keeps the original name. Missing values
form their own slice, ``(missing)``. Nothing here needs TensorFlow or TFMA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.sensitive_groups import (  # noqa: F401 (re-exported)
    CROSS_SEPARATOR,
    MISSING_SLICE,
    bucket_labels,
    bucketize,
    group_values,
)
from greenkfp.components._shared.step_keys import threshold_label

DEFAULT_THRESHOLDS = (0.5,)
DEFAULT_MIN_SLICE_SIZE = 20
MAX_VALUES_PER_FEATURE = 50
"""A categorical sensitive feature with more distinct values than this needs buckets."""


def cross_name(features: Sequence[str]) -> str:
    """Names a feature cross: ``["sex", "age"]`` gives ``sex_x_age``."""
    return CROSS_SEPARATOR.join(features)


@dataclass(frozen=True)
class SliceSettings:
    """The slicing and thresholds of one fairness evaluation, checked.

    Attributes:
        sensitive_features: Columns to slice on, in the order given.
        feature_buckets: Boundaries of each numeric sensitive feature, increasing.
        feature_crosses: Crosses of sensitive features, e.g. ``(("sex", "age"),)``.
        thresholds: Decision thresholds, each strictly between 0 and 1; the first is the
            operating threshold of accuracy, precision, recall and the confusion matrix.
        min_slice_size: Slices with fewer examples are reported but left out of the gaps.
    """

    sensitive_features: tuple[str, ...]
    feature_buckets: Mapping[str, tuple[float, ...]]
    feature_crosses: tuple[tuple[str, ...], ...]
    thresholds: tuple[float, ...]
    min_slice_size: int

    @classmethod
    def create(
        cls,
        sensitive_features: Sequence[str],
        feature_buckets: Optional[Mapping[str, Sequence[float]]] = None,
        feature_crosses: Optional[Sequence[Sequence[str]]] = None,
        thresholds: Optional[Sequence[float]] = None,
        min_slice_size: int = DEFAULT_MIN_SLICE_SIZE,
    ) -> SliceSettings:
        """Checks the parameters (not the data) and returns the settings.

        Raises:
            InputError: No or repeated sensitive features; buckets or crosses naming a
                feature that is not sensitive; boundaries that are not finite and strictly
                increasing; a cross of fewer than two features; thresholds outside (0, 1)
                or repeated; ``min_slice_size`` below 1.
        """
        if isinstance(sensitive_features, str):
            sensitive_features = [sensitive_features]
        features = tuple(str(f) for f in (sensitive_features or []))
        if not features:
            raise InputError("sensitive_features is empty: name at least one column to slice on")
        repeated = sorted({f for f in features if features.count(f) > 1})
        if repeated:
            raise InputError(f"sensitive_features lists {repeated} more than once")
        buckets = {}
        for name, boundaries in (feature_buckets or {}).items():
            if name not in features:
                raise InputError(
                    f"feature_buckets names {name!r}, which is not in sensitive_features "
                    f"{list(features)}"
                )
            buckets[name] = _check_boundaries(name, boundaries)
        crosses = []
        for cross in feature_crosses or []:
            cross = tuple(str(f) for f in cross)
            if len(cross) < 2 or len(set(cross)) != len(cross):
                raise InputError(
                    f"feature cross {list(cross)} must name at least two different features"
                )
            unknown = [f for f in cross if f not in features]
            if unknown:
                raise InputError(
                    f"feature cross {list(cross)} names {unknown}, not in sensitive_features "
                    f"{list(features)}"
                )
            if cross in crosses:
                raise InputError(f"feature cross {list(cross)} is given more than once")
            crosses.append(cross)
        return cls(
            sensitive_features=features,
            feature_buckets=buckets,
            feature_crosses=tuple(crosses),
            thresholds=check_thresholds(thresholds),
            min_slice_size=_check_min_slice_size(min_slice_size),
        )

    def groups(self) -> list[tuple[str, tuple[str, ...]]]:
        """Returns each slice group's name and features: features first, then crosses."""
        singles = [(f, (f,)) for f in self.sensitive_features]
        return singles + [(cross_name(c), c) for c in self.feature_crosses]

    def to_dict(self) -> dict[str, Any]:
        """Returns the settings as JSON-friendly values."""
        return {
            "sensitive_features": list(self.sensitive_features),
            "feature_buckets": {k: list(v) for k, v in self.feature_buckets.items()},
            "feature_crosses": [list(c) for c in self.feature_crosses],
            "thresholds": list(self.thresholds),
            "min_slice_size": self.min_slice_size,
        }


def check_thresholds(thresholds: Optional[Sequence[float]]) -> tuple[float, ...]:
    """Returns the decision thresholds, default ``(0.5,)``.

    Raises:
        InputError: A threshold that is not a number strictly between 0 and 1, or two
            thresholds that print the same (``f"{t:g}"``, as metric keys show them).
    """
    if thresholds is None or len(thresholds) == 0:
        return DEFAULT_THRESHOLDS
    out = []
    for t in thresholds:
        try:
            value = float(t)
        except (TypeError, ValueError):
            raise InputError(f"threshold {t!r} is not a number") from None
        if not (math.isfinite(value) and 0.0 < value < 1.0):
            raise InputError(f"threshold {t!r} must be strictly between 0 and 1")
        out.append(value)
    labels = [threshold_label(t) for t in out]
    repeated = sorted({lbl for lbl in labels if labels.count(lbl) > 1})
    if repeated:
        raise InputError(f"thresholds {repeated} are given more than once")
    return tuple(out)


def _check_boundaries(name: str, boundaries: Sequence[float]) -> tuple[float, ...]:
    try:
        values = [float(b) for b in boundaries]
    except (TypeError, ValueError):
        raise InputError(f"feature_buckets[{name!r}] must be numbers, got {boundaries!r}") from None
    if not values:
        raise InputError(f"feature_buckets[{name!r}] is empty: give at least one boundary")
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"feature_buckets[{name!r}] must be finite numbers, got {values}")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise InputError(f"feature_buckets[{name!r}] must be strictly increasing, got {values}")
    return tuple(values)


def _check_min_slice_size(min_slice_size: int) -> int:
    try:
        value = int(min_slice_size)
    except (TypeError, ValueError):
        raise InputError(f"min_slice_size must be an integer, got {min_slice_size!r}") from None
    if value < 1 or value != min_slice_size:
        raise InputError(f"min_slice_size must be a whole number of at least 1, got {value}")
    return value


def slice_columns(df: pd.DataFrame, settings: SliceSettings, label_column: str) -> pd.DataFrame:
    """Returns one string column per sensitive feature, holding each row's slice value.

    Args:
        df: The evaluation rows.
        settings: Which features to slice on and how to bucket them.
        label_column: The label, which may not be a sensitive feature.

    Returns:
        A frame with the rows of ``df`` (same index) and a column per sensitive feature.

    Raises:
        InputError: A sensitive column is missing or is the label; a bucketed column holds
            text; every row falls in one slice of a feature (no comparison possible); an
            unbucketed feature has more than ``MAX_VALUES_PER_FEATURE`` values.
    """
    columns = {}
    for name in settings.sensitive_features:
        if name == label_column:
            raise InputError(f"sensitive feature {name!r} is the label column")
        if name not in df.columns:
            raise InputError(
                f"sensitive feature {name!r} is not a column of the evaluation data; "
                f"columns: {list(df.columns)}"
            )
        values = group_values(df[name], settings.feature_buckets.get(name))
        distinct = sorted(set(values.tolist()))
        if len(distinct) < 2:
            raise InputError(
                f"all {len(df)} rows fall in one slice of sensitive feature {name!r} "
                f"({distinct[0]!r}): there is nothing to compare"
            )
        if name not in settings.feature_buckets and len(distinct) > MAX_VALUES_PER_FEATURE:
            raise InputError(
                f"sensitive feature {name!r} has {len(distinct)} distinct values (more than "
                f"{MAX_VALUES_PER_FEATURE}); bucket it with feature_buckets={{{name!r}: [...]}}"
            )
        columns[name] = values
    return pd.DataFrame(columns, index=df.index)


def value_order(slices: pd.DataFrame, settings: SliceSettings) -> dict[str, list[str]]:
    """Returns each feature's slice values in display order.

    Buckets go from low to high, categories alphabetically; ``(missing)`` comes last.
    """
    order = {}
    for name in settings.sensitive_features:
        seen = set(slices[name].tolist())
        if name in settings.feature_buckets:
            values = [v for v in bucket_labels(settings.feature_buckets[name]) if v in seen]
        else:
            values = sorted(v for v in seen if v != MISSING_SLICE)
        order[name] = values + ([MISSING_SLICE] if MISSING_SLICE in seen else [])
    return order
