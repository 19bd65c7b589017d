"""Per-group decision thresholds (post-processing): chosen so the gated rates match.

For one sensitive feature, each group gets the threshold whose rates on the given rows
come closest to the rates of all rows at the operating threshold, for the rates the
policy gates: the true positive rate (equal opportunity) when the false negative or true
positive rate gap is gated, the false positive rate too (equalized odds, approximated
deterministically) when that gap is gated, the positive rate for demographic parity.
Deterministic: the same rows and scores give the same thresholds. The rows are those
carved from the training data (``_shared/holdout``), never the evaluation rows.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: At most this many candidate thresholds per group (midpoints of its distinct scores).
MAX_CANDIDATES = 512
LOWEST, HIGHEST = 1e-4, 1.0 - 1e-4

_COMPLEMENT = {"false_negative_rate": "true_positive_rate"}


def criterion(metrics: Sequence[str]) -> str:
    """Names what thresholds that match these rates equalize."""
    wanted = {_COMPLEMENT.get(m, m) for m in metrics}
    names = []
    if {"true_positive_rate", "false_positive_rate"} <= wanted:
        names.append("equalized odds (true and false positive rates)")
    elif "true_positive_rate" in wanted:
        names.append("equal opportunity (true positive rate)")
    elif "false_positive_rate" in wanted:
        names.append("equal false positive rates")
    if "positive_rate" in wanted:
        names.append("demographic parity (positive rate)")
    return " and ".join(names)


def _rates(labels: np.ndarray, positive: np.ndarray, metric: str) -> np.ndarray:
    """A rate per row of ``positive`` (candidates x rows); NaN without a denominator."""
    pos, neg = labels == 1, labels == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "true_positive_rate":
            return (positive & pos).sum(axis=-1) / pos.sum()
        if metric == "false_positive_rate":
            return (positive & neg).sum(axis=-1) / neg.sum()
        return positive.mean(axis=-1)  # positive_rate


def candidates(scores: np.ndarray, operating: float) -> np.ndarray:
    """Thresholds that give every distinct decision on these scores, and the operating one."""
    distinct = np.unique(np.asarray(scores, dtype=np.float64))
    mids = (distinct[:-1] + distinct[1:]) / 2.0
    if len(mids) > MAX_CANDIDATES:
        mids = mids[np.linspace(0, len(mids) - 1, MAX_CANDIDATES).round().astype(int)]
    both = np.concatenate([mids, [operating]])
    return np.unique(np.clip(both, LOWEST, HIGHEST))


def _fit(
    y: np.ndarray,
    s: np.ndarray,
    g: np.ndarray,
    wanted: Sequence[str],
    targets: dict[str, float],
    operating: float,
    min_rows: int,
) -> dict[str, float]:
    """Each group's threshold whose gated rates come closest to ``targets``."""
    chosen: dict[str, float] = {}
    for group in sorted(set(g.tolist())):
        mask = g == group
        yg, sg = y[mask], s[mask]
        cuts = candidates(sg, operating)
        positive = sg[None, :] > cuts[:, None]
        loss = np.zeros(len(cuts))
        usable = int(mask.sum()) >= min_rows
        for m in wanted:
            rate = _rates(yg, positive, m)
            if np.isnan(rate).any() or np.isnan(targets[m]):
                usable = False
                break
            loss += np.abs(rate - targets[m])
        if not usable:
            chosen[group] = float(operating)
            continue
        # Among equally good thresholds, the one nearest the operating threshold.
        best = np.lexsort((np.abs(cuts - operating), np.round(loss, 12)))[0]
        chosen[group] = float(cuts[best])
    return chosen


def too_small(
    labels: np.ndarray, groups: np.ndarray, metrics: Sequence[str], min_rows: int
) -> list[str]:
    """The groups that keep the operating threshold: too few rows, or none a rate counts."""
    y, g = np.asarray(labels).astype(int), np.asarray(groups)
    wanted = {_COMPLEMENT.get(m, m) for m in metrics}
    out = []
    for group in sorted(set(g.tolist())):
        yg = y[g == group]
        counted = {
            "true_positive_rate": int((yg == 1).sum()),
            "false_positive_rate": int((yg == 0).sum()),
            "positive_rate": len(yg),
        }
        if len(yg) < min_rows or any(counted[m] == 0 for m in wanted):
            out.append(group)
    return out


def choose(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray,
    metrics: Sequence[str],
    operating: float,
    min_rows: int,
) -> tuple[dict[str, float], dict[str, float]]:
    """Chooses each group's threshold, matching the gated rates at the best common level.

    The common level is the rates of all rows at one global threshold; of the levels
    (global thresholds at 49 quantiles of the scores, and the operating threshold) the
    one whose per-group thresholds give the highest accuracy on the rows is kept, so the
    gaps close at the least cost.

    Args:
        labels: 0/1 labels of the rows.
        scores: The model's scores of the rows.
        groups: Each row's group of the sensitive feature.
        metrics: The gated rates of this feature (``false_negative_rate`` counts as
            ``true_positive_rate``).
        operating: The operating threshold (the policy's ``fairness_threshold``).
        min_rows: A group with fewer rows, or without a row a gated rate counts, keeps
            the operating threshold.

    Returns:
        ``(thresholds by group, target rate by metric)``.
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    g = np.asarray(groups)
    wanted = sorted({_COMPLEMENT.get(m, m) for m in metrics})
    levels = np.unique(np.concatenate([np.quantile(s, np.linspace(0.02, 0.98, 49)), [operating]]))
    best: tuple[float, float] = (-1.0, 0.0)
    result: tuple[dict[str, float], dict[str, float]] = ({}, {})
    for level in levels:
        targets = {m: float(_rates(y, s > level, m)) for m in wanted}
        chosen = _fit(y, s, g, wanted, targets, operating, min_rows)
        row_cut = np.array([chosen[v] for v in g.tolist()])
        accuracy = float(np.mean((s > row_cut) == (y == 1)))
        key = (round(accuracy, 12), -abs(float(level) - operating))
        if key > best:
            best, result = key, (chosen, targets)
    return result
