"""The area under a ROC curve, for the training report.

The curve itself comes from :func:`greenkfp.components._shared.binary_metrics.roc_curve`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from greenkfp.components._shared.errors import InputError


def auc_from_roc(fpr: Sequence[float], tpr: Sequence[float]) -> float:
    """Returns the area under a ROC curve by the trapezoid rule.

    On an exact curve from ``binary_metrics.roc_curve`` this equals the rank (Mann-Whitney) AUC,
    ties counted as one half; on a thinned curve it is an approximation.

    Args:
        fpr: False positive rates, non-decreasing.
        tpr: True positive rates, same length.

    Returns:
        The area, in [0, 1].

    Raises:
        InputError: Lengths that differ or fewer than two points.
    """
    x = np.asarray(fpr, dtype=float)
    y = np.asarray(tpr, dtype=float)
    if x.size != y.size:
        raise InputError(f"fpr and tpr differ in length: {x.size} and {y.size}")
    if x.size < 2:
        raise InputError(f"a ROC curve needs at least 2 points, got {x.size}")
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))
