"""Reweighing's sample weights (Kamiran and Calders; AIF360's ``Reweighing``).

They decouple the label from the sensitive groups in the training rows: each row of group
``g`` and label ``y`` weighs ``w(g, y) = P(g) P(y) / P(g, y)``, so that in the weighted
rows every group has the same positive rate, the overall one. The groups are the
intersection of the sensitive features whose gaps the policy names (``sex`` and ``race``:
``"female | white"``, ...), grouped as the fairness evaluation groups them
(``sensitive_groups.group_values``). The trainer trains with these weights when the
policy says ``mitigation: reweigh``; the mitigation step then judges the result against
the unweighted reference the trainer also saved (``REFERENCE_DIRNAME``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.policy import Policy
from greenkfp.components._shared.sensitive_groups import CROSS_SEPARATOR, group_values

#: The subfolder of ``train_model``'s model holding the unweighted reference model
#: (same layout as the model itself: ``_shared/predictor.load_predictor`` loads it).
REFERENCE_DIRNAME = "unweighted_reference"

#: The model metadata key holding the reference training's energy reading.
REFERENCE_ENERGY_KEY = "mitigation_energy"

#: A numeric sensitive feature with more distinct values than this is refused: the
#: trainer does not know the fairness step's buckets.
MAX_NUMERIC_GROUPS = 10


def policy_features(policy: Policy, columns: Sequence[str]) -> list[str]:
    """The sensitive features whose gaps the policy names, crosses split into their parts.

    Args:
        policy: The parsed policy.
        columns: The training data's columns (a cross name that is a column stays whole).

    Raises:
        InputError: When the policy bounds gaps without naming a feature (one number for
            every measured feature): the trainer cannot know which features those are.
    """
    bounds = policy.max_fairness_gap
    named: list[str] = []
    if isinstance(bounds, dict):
        for bound in bounds.values():
            if isinstance(bound, dict):
                named.extend(str(f) for f in bound)
    if not named:
        raise InputError(
            "mitigation: reweigh needs the policy to name the sensitive features it bounds "
            "(e.g. max_fairness_gap: {false_negative_rate: {sex: 0.1}}); a single bound "
            "for every measured feature does not tell the trainer which features to reweigh"
        )
    features: list[str] = []
    for name in named:
        parts = [name] if name in columns else name.split(CROSS_SEPARATOR)
        features.extend(p for p in parts if p not in features)
    return features


def row_groups(df: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Each row's intersectional group over ``features`` (``"female | white"``).

    Raises:
        InputError: A feature that is not a column, or a numeric one with more than
            :data:`MAX_NUMERIC_GROUPS` distinct values.
    """
    values = []
    for name in features:
        if name not in df.columns:
            raise InputError(
                f"reweigh: sensitive feature {name!r} is not a column of the training data; "
                f"columns: {list(df.columns)}"
            )
        column = df[name].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(column) and column.nunique() > MAX_NUMERIC_GROUPS:
            raise InputError(
                f"reweigh: sensitive feature {name!r} is numeric with {column.nunique()} "
                f"distinct values (more than {MAX_NUMERIC_GROUPS}); reweighing groups rows by "
                "value, so bucket it into a categorical column first"
            )
        values.append(group_values(column))
    return np.array([" | ".join(row) for row in zip(*values)], dtype=object)


def weights(groups: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Reweighing's ``w(g, y) = P(g) P(y) / P(g, y)`` for each row.

    Args:
        groups: Each row's group.
        labels: Each row's 0/1 label.

    Returns:
        float32 weights, one per row; their mean is 1.

    Raises:
        InputError: Empty rows, or groups and labels of different lengths.
    """
    groups = np.asarray(groups)
    labels = np.asarray(labels).astype(int)
    if len(groups) != len(labels) or len(labels) == 0:
        raise InputError(
            f"reweigh: {len(groups)} groups for {len(labels)} labels; need one per row, some rows"
        )
    n = float(len(labels))
    out = np.empty(len(labels), dtype=np.float64)
    for g in np.unique(groups):
        in_g = groups == g
        for y in (0, 1):
            cell = in_g & (labels == y)
            count = cell.sum()
            if count:
                out[cell] = (in_g.sum() / n) * ((labels == y).sum() / n) / (count / n)
    return out.astype(np.float32)


def weighted_positive_rates(groups: np.ndarray, labels: np.ndarray, w: np.ndarray) -> dict:
    """Each group's positive rate in the weighted rows (equal across groups after reweighing)."""
    groups, labels, w = np.asarray(groups), np.asarray(labels), np.asarray(w, dtype=np.float64)
    return {
        str(g): float(np.sum(w[(groups == g) & (labels == 1)]) / np.sum(w[groups == g]))
        for g in np.unique(groups)
    }
