"""Which fairness gaps a policy gates, and those gaps measured on rows from given scores.

Plain numpy: a gap is the largest minus the smallest rate across the eligible groups of a
sensitive feature (or cross) at the operating threshold, with Newcombe's interval of the
difference between the two extreme groups, as the fairness evaluation reports it
(``_shared/rate_intervals``). A group is eligible when it has ``min_slice_size`` rows
and its rate is defined. A row is positive when its score is above the threshold.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from greenkfp.components._shared.binary_metrics import roc_auc
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.policy import Policy
from greenkfp.components._shared.rate_intervals import difference_interval, rates_from_counts
from greenkfp.components._shared.sensitive_groups import CROSS_SEPARATOR, group_values
from greenkfp.components._shared.step_keys import GAP, fairness_key, parse_fairness_key


@dataclass(frozen=True)
class GatedGap:
    """One gap the policy bounds: a rate across the groups of a feature, and its bound."""

    metric: str
    feature: str
    bound: float
    threshold: float = 0.5

    @property
    def key(self) -> str:
        """The fairness metric key the gate reads, e.g. ``false_negative_rate_gap_sex@0.5``."""
        return fairness_key(self.metric, self.feature, self.threshold)


@dataclass
class MeasuredGap:
    """A gap measured on rows, with its 95% interval and the groups at its ends."""

    metric: str
    feature: str
    gap: float
    low: float
    high: float
    max_group: str = ""
    min_group: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Returns the figures, JSON-ready (NaN as None)."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }


def measured_pairs(fairness: Mapping[str, float], at: float) -> list[tuple[str, str]]:
    """The (metric, feature) of every gap the fairness step measured at threshold ``at``."""
    pairs = set()
    for key in fairness:
        parsed = parse_fairness_key(key)
        if parsed is None or not parsed.is_metric or parsed.kind != GAP:
            continue
        if math.isclose(float(parsed.threshold), at, abs_tol=1e-9):
            pairs.add((parsed.metric, parsed.feature))
    return sorted(pairs)


def gated_gaps(policy: Policy, fairness: Mapping[str, float]) -> list[GatedGap]:
    """Lists the gaps the policy bounds at its ``fairness_threshold``, with their bounds.

    A bound for every feature covers each feature the fairness step measured for that
    metric; one number for ``max_fairness_gap`` covers every metric and feature measured
    at the threshold.

    Args:
        policy: The parsed policy.
        fairness: The fairness step's metrics (``<metric>_gap_<feature>@<threshold>``).
    """
    at = policy.fairness_threshold
    measured = measured_pairs(fairness, at)
    bounds = policy.max_fairness_gap
    wanted: dict[tuple[str, str], float] = {}
    if isinstance(bounds, float):
        wanted = {pair: bounds for pair in measured}
    elif isinstance(bounds, dict):
        for metric, bound in bounds.items():
            if isinstance(bound, dict):
                wanted.update({(metric, str(f)): float(v) for f, v in bound.items()})
            else:
                wanted.update({(m, f): float(bound) for m, f in measured if m == metric})
    return [GatedGap(m, f, b, at) for (m, f), b in sorted(wanted.items())]


def row_groups(
    df: pd.DataFrame, feature: str, buckets: Mapping[str, Sequence[float]]
) -> np.ndarray:
    """Each row's group for a feature, or for a cross (``sex_x_age``: ``"female | <25"``).

    Raises:
        InputError: When the rows lack one of the features.
    """
    parts = feature.split(CROSS_SEPARATOR) if feature not in df.columns else [feature]
    values = []
    for name in parts:
        if name not in df.columns:
            raise InputError(
                f"sensitive feature {name!r} is not a column of the data; columns: "
                f"{list(df.columns)}"
            )
        values.append(group_values(df[name].reset_index(drop=True), buckets.get(name)))
    if len(values) == 1:
        return values[0]
    return np.array([" | ".join(row) for row in zip(*values)], dtype=object)


def group_rates(
    labels: np.ndarray, positive: np.ndarray, groups: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Each group's rows and rates (``rate_intervals.RateValue``) from decisions."""
    out = {}
    for group in sorted(set(groups.tolist())):
        mask = groups == group
        y, p = labels[mask], positive[mask]
        tp = float(np.sum(p & (y == 1)))
        fp = float(np.sum(p & (y == 0)))
        tn = float(np.sum(~p & (y == 0)))
        fn = float(np.sum(~p & (y == 1)))
        out[group] = {"rows": int(mask.sum()), "rates": rates_from_counts(tp, fp, tn, fn)}
    return out


def measure_gap(
    metric: str,
    feature: str,
    labels: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray,
    threshold: float,
    min_slice_size: int,
) -> MeasuredGap:
    """Measures one gap at a threshold; NaN when fewer than two groups are eligible."""
    rates = group_rates(np.asarray(labels), np.asarray(scores) > threshold, groups)
    eligible = {
        g: r["rates"][metric]
        for g, r in rates.items()
        if r["rows"] >= min_slice_size and not math.isnan(r["rates"][metric].value)
    }
    if len(eligible) < 2:
        return MeasuredGap(metric, feature, math.nan, math.nan, math.nan)
    hi = max(eligible, key=lambda g: eligible[g].value)
    lo = min(eligible, key=lambda g: eligible[g].value)
    low, high = difference_interval(eligible[hi], eligible[lo])
    return MeasuredGap(metric, feature, eligible[hi].value - eligible[lo].value, low, high, hi, lo)


def measure(
    gaps: Sequence[GatedGap],
    df: pd.DataFrame,
    labels: np.ndarray,
    scores: np.ndarray,
    buckets: Mapping[str, Sequence[float]],
    threshold: float,
    min_slice_size: int,
) -> list[MeasuredGap]:
    """Measures every gated gap on the rows of ``df`` scored ``scores``."""
    cache: dict[str, np.ndarray] = {}
    out = []
    for g in gaps:
        if g.feature not in cache:
            cache[g.feature] = row_groups(df, g.feature, buckets)
        out.append(
            measure_gap(
                g.metric, g.feature, labels, scores, cache[g.feature], threshold, min_slice_size
            )
        )
    return out


def within(gaps: Sequence[GatedGap], measured: Sequence[MeasuredGap]) -> list[str]:
    """The gated gaps still over their bound, one sentence each (empty: all within)."""
    over = []
    for g, m in zip(gaps, measured):
        if math.isnan(m.gap) or m.gap > g.bound:
            value = "not measurable" if math.isnan(m.gap) else f"{m.gap:.3f}"
            over.append(f"{g.metric} gap by {g.feature} {value} > {g.bound:g}")
    return over


def accuracy_and_auc(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy (positive when score > threshold, as TFMA counts) and exact ROC AUC."""
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=np.float64)
    accuracy = float(np.mean((s > threshold) == (y == 1))) if len(y) else math.nan
    return {"accuracy": accuracy, "auc": float(roc_auc(y, s))}
