"""The remedies the mitigation step tries, each judged on the evaluation rows.

``try_thresholds`` chooses per-group decision thresholds on the validation rows carved
from the training data; ``try_reweigh`` judges a model trained with reweighing sample
weights against its unweighted reference. Each returns an :class:`Attempt`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd

from greenkfp.components._shared import group_thresholds
from greenkfp.components._shared.policy import Policy
from greenkfp.components.mitigation import gated, thresholds


@dataclass
class Attempt:
    """One remedy tried (or refused), and what it gave on the evaluation rows."""

    method: str
    outcome: str  # kept, failed or refused
    reason: str
    gaps_after: list[dict[str, Any]] = field(default_factory=list)
    quality_after: dict[str, float] = field(default_factory=dict)
    thresholds: Optional[dict[str, Any]] = None


@dataclass
class Rows:
    """The evaluation rows and the carved validation rows, with the model's scores."""

    eval_df: pd.DataFrame
    y_eval: np.ndarray
    scores_eval: np.ndarray
    validation_df: pd.DataFrame
    y_validation: np.ndarray
    scores_validation: np.ndarray
    buckets: dict[str, list[float]]
    min_slice_size: int
    reference_scores_eval: Optional[np.ndarray] = None
    reference_energy: dict[str, Any] = field(default_factory=dict)


def gap_rows(
    gaps: list[gated.GatedGap],
    before: list[gated.MeasuredGap],
    after: Optional[list[gated.MeasuredGap]],
) -> list[dict[str, Any]]:
    """Each gated gap with its bound, before and after (``after`` is ``before`` if None)."""
    rows = []
    for i, g in enumerate(gaps):
        rows.append(
            {
                "metric": g.metric,
                "feature": g.feature,
                "key": g.key,
                "bound": g.bound,
                "before": before[i].to_dict(),
                "after": (after or before)[i].to_dict(),
            }
        )
    return rows


def try_thresholds(
    policy: Policy,
    gaps: list[gated.GatedGap],
    before: list[gated.MeasuredGap],
    data: Rows,
) -> tuple[Attempt, Optional[np.ndarray]]:
    """Chooses per-group thresholds on the validation rows; judges them on the eval rows."""
    at = policy.fairness_threshold
    excess = {}
    for g, m in zip(gaps, before):
        single = gated.CROSS_SEPARATOR not in g.feature or g.feature in data.eval_df.columns
        if single and not math.isnan(m.gap) and m.gap > g.bound:
            excess[g.feature] = max(excess.get(g.feature, 0.0), m.gap - g.bound)
    if not excess:
        return Attempt(
            "thresholds",
            "failed",
            "per-group thresholds are chosen on one sensitive feature; the gaps over their "
            "bound are of feature crosses",
        ), None
    feature = max(sorted(excess), key=lambda f: excess[f])
    metrics = sorted({g.metric for g in gaps if g.feature == feature})
    groups_validation = gated.row_groups(data.validation_df, feature, data.buckets)
    chosen, targets = thresholds.choose(
        data.y_validation,
        data.scores_validation,
        groups_validation,
        metrics,
        at,
        min_rows=data.min_slice_size,
    )
    spec = group_thresholds.GroupThresholds(
        feature=feature,
        thresholds=chosen,
        operating_threshold=at,
        boundaries=tuple(data.buckets.get(feature, ())),
        criterion=thresholds.criterion(metrics),
        chosen_on=(
            f"{len(data.validation_df)} validation rows carved from the training data (the "
            "trainer's early-stopping rows); never the evaluation rows"
        ),
        extra={"target_rates": targets},
    )
    scores_after = spec.apply(data.scores_eval, data.eval_df)
    after = gated.measure(
        gaps, data.eval_df, data.y_eval, scores_after, data.buckets, at, data.min_slice_size
    )
    over = gated.within(gaps, after)
    quality = gated.accuracy_and_auc(data.y_eval, scores_after, at)
    rows = gap_rows(gaps, before, after)
    summary = ", ".join(f"{g}: {t:.3f}" for g, t in sorted(chosen.items()))
    small = thresholds.too_small(data.y_validation, groups_validation, metrics, data.min_slice_size)
    if small:
        summary += (
            f"; {', '.join(small)} kept the operating threshold (fewer than "
            f"{data.min_slice_size} validation rows, or none the rate counts)"
        )
    if over:
        return Attempt(
            "thresholds",
            "failed",
            f"per-group thresholds by {feature} ({spec.criterion}; {summary}) leave "
            + "; ".join(over),
            rows,
            quality,
            spec.to_dict(),
        ), None
    return Attempt(
        "thresholds",
        "kept",
        f"per-group thresholds by {feature} ({spec.criterion}; {summary}) bring every gated "
        "gap within the policy",
        rows,
        quality,
        spec.to_dict(),
    ), scores_after


def try_reweigh(
    gaps: list[gated.GatedGap], data: Rows, at: float
) -> tuple[Attempt, list[gated.MeasuredGap], dict[str, float]]:
    """Judges the reweighed model (the candidate) against its unweighted reference.

    Both are measured with the same code on the same evaluation rows: before is the
    reference, after the candidate. Returns the attempt, the reference's gaps and quality.
    """
    assert data.reference_scores_eval is not None
    before = gated.measure(
        gaps,
        data.eval_df,
        data.y_eval,
        data.reference_scores_eval,
        data.buckets,
        at,
        data.min_slice_size,
    )
    after = gated.measure(
        gaps, data.eval_df, data.y_eval, data.scores_eval, data.buckets, at, data.min_slice_size
    )
    quality_before = gated.accuracy_and_auc(data.y_eval, data.reference_scores_eval, at)
    quality = gated.accuracy_and_auc(data.y_eval, data.scores_eval, at)
    over = gated.within(gaps, after)
    rows = gap_rows(gaps, before, after)
    what = (
        "the model trained with reweighing sample weights (before: its unweighted reference, "
        "same seed and hyperparameters)"
    )
    if over:
        return (
            Attempt("reweigh", "failed", f"{what} leaves " + "; ".join(over), rows, quality),
            before,
            quality_before,
        )
    return (
        Attempt(
            "reweigh", "kept", f"{what} brings every gated gap within the policy", rows, quality
        ),
        before,
        quality_before,
    )
