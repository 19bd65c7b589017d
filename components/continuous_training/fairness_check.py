"""The live model's false negative rate gap per sensitive feature, on labelled new data.

A cheap look at fairness on fresh data (plain numpy, no TFMA): per feature, the largest
minus the smallest false negative rate at the 0.5 decision threshold over the feature's
values (numeric features cut by their bucket boundaries), as ``evaluate_fairness``
reports it for the data the model was judged on.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.step_keys import fairness_key

METRIC = "false_negative_rate"
THRESHOLD = 0.5
MIN_SLICE_ROWS = 20
"""Slices with fewer rows are left out of the gap (too noisy to compare)."""


def _groups(column: pd.Series, boundaries: Optional[Sequence[float]]) -> np.ndarray:
    if boundaries is None:
        return column.astype(str).to_numpy()
    values = pd.to_numeric(column, errors="coerce").to_numpy(float)
    return np.where(np.isnan(values), -1, np.digitize(values, sorted(boundaries)))


def false_negative_rate_gaps(
    df: pd.DataFrame,
    labels: np.ndarray,
    scores: np.ndarray,
    features: Sequence[str],
    buckets: Mapping[str, Sequence[float]],
    recorded: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The false negative rate gap per feature on the new data, beside the recorded one.

    Args:
        df: The labelled new data.
        labels: Its 0/1 labels.
        scores: The live model's scores of its rows.
        features: The sensitive features.
        buckets: Boundaries of numeric features (``{"age": [25, 40, 60]}``).
        recorded: The fairness metrics the live version recorded (``metrics.json``).

    Returns:
        Per feature: ``feature``, ``metric``, ``on_new_data`` (None with fewer than two
        slices of :data:`MIN_SLICE_ROWS` rows holding positives), ``recorded`` (None when
        not recorded), ``slices``.

    Raises:
        InputError: When the new data lacks a feature.
    """
    missed = (np.asarray(scores) < THRESHOLD) & (np.asarray(labels) == 1)
    positive = np.asarray(labels) == 1
    found = []
    for feature in features:
        if feature not in df.columns:
            raise InputError(f"the new data has no sensitive feature column {feature!r}")
        groups = _groups(df[feature], buckets.get(feature))
        rates = []
        for group in np.unique(groups):
            rows = groups == group
            if rows.sum() >= MIN_SLICE_ROWS and positive[rows].any():
                rates.append(missed[rows].sum() / positive[rows].sum())
        before = recorded.get(fairness_key(METRIC, feature, THRESHOLD))
        found.append(
            {
                "feature": feature,
                "metric": f"{METRIC} gap",
                "on_new_data": float(max(rates) - min(rates)) if len(rates) >= 2 else None,
                "recorded": float(before) if isinstance(before, (int, float)) else None,
                "slices": len(rates),
            }
        )
    return found


def fairness_reasons(found: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per feature with its figures; fairness is reported, not a retrain criterion."""

    def show(value: Optional[float]) -> str:
        return "–" if value is None else f"{value:.3f}"

    return [
        f"fairness (reported, not a retrain criterion): {f['metric']} by {f['feature']} "
        f"{show(f['on_new_data'])} on the new data, {show(f['recorded'])} recorded"
        for f in found
    ]
