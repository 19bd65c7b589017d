"""Binary-classification metrics in plain NumPy: quality, confusion matrix, ROC curve and AUC.

Every step that judges a model (training, compression's quality budget, fairness) uses
these, so an accuracy or AUC means the same in every step's outputs. The confusion matrix
and ROC curve feed KFP's ``ClassificationMetrics`` (``log_confusion_matrix`` and
``log_roc_curve``); nothing here needs TensorFlow.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError

CONFUSION_CATEGORIES = ["negative", "positive"]
"""Row and column order of :func:`confusion_matrix`: index 0 is label 0, index 1 label 1."""

ROC_START_MARGIN = 1e-6
"""How far above the highest score the ROC curve's first threshold lies."""


def _check_inputs(labels: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
    """Returns labels as 0/1 ints and scores as floats, or raises naming the problem."""
    y = np.asarray(labels).ravel()
    p = np.asarray(scores, dtype=float).ravel()
    if y.size == 0:
        raise InputError("labels are empty: need at least one example to evaluate")
    if y.size != p.size:
        raise InputError(f"labels and scores differ in length: {y.size} labels, {p.size} scores")
    if y.dtype == bool:
        y = y.astype(int)
    try:
        numeric = y.astype(float)
    except (TypeError, ValueError):
        raise InputError(f"labels must be 0 or 1, got values of type {y.dtype}") from None
    bad = ~np.isin(numeric, (0.0, 1.0))
    if bad.any():
        found = sorted({str(v) for v in y[bad][:5]})
        raise InputError(f"labels must be 0 or 1, found {', '.join(found)}")
    if not np.isfinite(p).all():
        raise InputError(f"scores must be finite, found {int((~np.isfinite(p)).sum())} NaN/inf")
    return numeric.astype(int), p


def _check_threshold(threshold: float) -> float:
    threshold = float(threshold)
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold must be strictly between 0 and 1, got {threshold}")
    return threshold


def confusion_matrix(
    labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> list[list[int]]:
    """Counts a binary classifier's outcomes at one threshold.

    Rows are the true class, columns the predicted class, both in the order of
    :data:`CONFUSION_CATEGORIES` (``["negative", "positive"]``), as KFP's
    ``ClassificationMetrics.log_confusion_matrix`` expects::

        [[TN, FP],
         [FN, TP]]

    Args:
        labels: True labels, 0 or 1 (booleans are accepted).
        scores: Predicted probabilities of the positive class, in [0, 1].
        threshold: An example is predicted positive when its score is ``>= threshold``;
            strictly between 0 and 1.

    Returns:
        ``[[TN, FP], [FN, TP]]`` as Python ints.

    Raises:
        InputError: Empty input, lengths that differ, labels other than 0/1, non-finite
            scores or a threshold outside (0, 1).
    """
    y, p = _check_inputs(labels, scores)
    threshold = _check_threshold(threshold)
    pred = p >= threshold
    pos = y == 1
    tp = int(np.sum(pred & pos))
    fp = int(np.sum(pred & ~pos))
    fn = int(np.sum(~pred & pos))
    tn = int(np.sum(~pred & ~pos))
    return [[tn, fp], [fn, tp]]


def _downsample(n: int, max_points: int) -> np.ndarray:
    """Returns at most ``max_points`` increasing indices into ``range(n)``, ends included."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(int))


def roc_curve(
    labels: np.ndarray, scores: np.ndarray, max_points: int = 101
) -> tuple[list[float], list[float], list[float]]:
    """Computes the exact ROC curve of a binary classifier.

    Each distinct score is one threshold (tied scores move the curve in one step), with
    an example predicted positive when its score is ``>= threshold``. The curve starts
    at (0, 0) with a threshold just above the highest score (``max + 1e-6``, finite, as
    ``ClassificationMetrics.log_roc_curve`` needs) and ends at (1, 1) at the lowest
    score. Longer curves are thinned to ``max_points`` evenly spaced points, first and
    last kept.

    Args:
        labels: True labels, 0 or 1; both classes must be present.
        scores: Predicted probabilities of the positive class.
        max_points: Most points returned; at least 2.

    Returns:
        ``(fpr, tpr, thresholds)``: false and true positive rates, non-decreasing, and
        thresholds, strictly decreasing; Python floats of equal length.

    Raises:
        InputError: Bad labels or scores (see :func:`confusion_matrix`), one class only,
            or ``max_points < 2``.
    """
    if int(max_points) < 2:
        raise InputError(f"max_points must be at least 2, got {max_points}")
    y, p = _check_inputs(labels, scores)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        only = "negative (0)" if n_pos == 0 else "positive (1)"
        raise InputError(
            f"ROC needs both classes in labels, found only {only} among {y.size} examples"
        )
    order = np.argsort(-p, kind="mergesort")
    p_sorted, y_sorted = p[order], y[order]
    tps = np.cumsum(y_sorted)
    fps = np.cumsum(1 - y_sorted)
    # Last index of each run of equal scores: one step per distinct threshold.
    ends = np.r_[np.flatnonzero(np.diff(p_sorted) != 0), p_sorted.size - 1]
    tpr = np.r_[0.0, tps[ends] / n_pos]
    fpr = np.r_[0.0, fps[ends] / n_neg]
    start = max(p_sorted[0] + ROC_START_MARGIN, np.nextafter(p_sorted[0], np.inf))
    start = min(start, np.finfo(float).max)  # finite, as KFP needs
    thresholds = np.r_[start, p_sorted[ends]]
    keep = _downsample(tpr.size, int(max_points))
    return (
        [float(v) for v in fpr[keep]],
        [float(v) for v in tpr[keep]],
        [float(v) for v in thresholds[keep]],
    )


def auc_from_roc(fpr: Sequence[float], tpr: Sequence[float]) -> float:
    """Returns the area under a ROC curve by the trapezoid rule.

    On an exact curve from :func:`roc_curve` this equals the rank (Mann-Whitney) AUC,
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


def classification_summary(
    labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Returns the usual threshold metrics of a binary classifier.

    Args:
        labels: True labels, 0 or 1.
        scores: Predicted probabilities of the positive class.
        threshold: Predicted positive when score ``>= threshold``; in (0, 1).

    Returns:
        ``accuracy``, ``precision`` (0.0 when nothing is predicted positive), ``recall``
        (0.0 when no label is positive), ``f1`` (0.0 when precision and recall are both 0)
        and ``positive_rate`` (share of examples predicted positive), as floats.

    Raises:
        InputError: As :func:`confusion_matrix`.
    """
    (tn, fp), (fn, tp) = confusion_matrix(labels, scores, threshold)
    total = tn + fp + fn + tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float((tp + tn) / total),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "positive_rate": float((tp + fp) / total),
    }


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Exact ROC AUC (Mann-Whitney, ties counted half); NaN when a class is absent."""
    labels = np.asarray(labels).astype(bool).ravel()
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(np.asarray(scores, dtype=np.float64).ravel()).rank(method="average")
    rank_sum = float(ranks.to_numpy()[labels].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy (at ``threshold``), exact AUC and log loss of binary scores.

    Args:
        labels: 0/1 labels.
        scores: Probabilities of the positive class.
        threshold: Scores at or above it count as positive.

    Returns:
        ``{"accuracy": ..., "auc": ..., "loss": ...}`` as Python floats.
    """
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.asarray(scores, dtype=np.float64).ravel()
    if y.size == 0:
        return {"accuracy": float("nan"), "auc": float("nan"), "loss": float("nan")}
    eps = 1e-7  # Keras' epsilon: the same clipping as BinaryCrossentropy.
    pc = np.clip(p, eps, 1.0 - eps)
    loss = float(-np.mean(y * np.log(pc) + (1.0 - y) * np.log(1.0 - pc)))
    accuracy = float(np.mean((p >= threshold) == (y == 1.0)))
    return {"accuracy": accuracy, "auc": float(roc_auc(y, p)), "loss": loss}
