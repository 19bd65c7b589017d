"""Per-slice figures, their confidence intervals, and the fairness gaps between slices.

Plain Python: TFMA computes the per-slice figures (see ``tfma_eval``), and everything
from there on happens here, so that it can be checked by hand.

A gap compares one rate across the eligible slices of one sensitive feature (or cross) at
one threshold: ``gap`` is the largest minus the smallest value, ``ratio`` the smallest over
the largest (1.0 when all are 0). Each rate gets a Wilson score interval from the counts
behind it, and the gap the Newcombe (hybrid score) interval of the difference between the
two extreme slices; a gap is *significant* when that interval excludes 0, so that a small
slice's noise is not mistaken for bias.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

from greenkfp.components._shared.rate_intervals import (  # noqa: F401 (re-exported)
    Z_95,
    RateValue,
    difference_interval,
    rates_from_counts,
    wilson_interval,
)
from greenkfp.components._shared.step_keys import (
    BASELINE,
    DELTA,
    GAP_METRICS,
    MAX_FAIRNESS_GAP,
    QUALITY_KEYS,
    RATIO,
    SIGNIFICANT,
    fairness_key,
    parse_fairness_key,
    with_role,
)
from greenkfp.components.fairness.slicing import SliceSettings, threshold_label

METRIC_TITLES = {
    "false_positive_rate": "false positive rate",
    "false_negative_rate": "false negative rate",
    "positive_rate": "positive rate (demographic parity)",
    "true_positive_rate": "true positive rate (equal opportunity)",
}

METRIC_ABBREVIATIONS = {
    "false_positive_rate": "FPR",
    "false_negative_rate": "FNR",
    "positive_rate": "positive rate",
    "true_positive_rate": "TPR",
}

OVERALL = "overall"
"""Group and name of the slice holding every row."""


@dataclass
class SliceResult:
    """TFMA's figures for one slice.

    Attributes:
        group: The sensitive feature or cross (``sex``, ``sex_x_age``) or ``overall``.
        values: The slice's value of each feature of the group, in the group's order.
        example_count: Rows in the slice.
        quality: ``auc``, ``accuracy``, ``precision``, ``recall`` at the operating threshold.
        counts: Per threshold label (``"0.5"``), ``tp``, ``fp``, ``tn``, ``fn``.
        rates: Per threshold label, each of :data:`GAP_METRICS` with its interval.
    """

    group: str
    values: dict[str, str]
    example_count: int
    quality: dict[str, float] = field(default_factory=dict)
    counts: dict[str, dict[str, float]] = field(default_factory=dict)
    rates: dict[str, dict[str, RateValue]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``overall``, ``sex=female`` or ``sex=female, age=[25, 40)``."""
        if not self.values:
            return OVERALL
        return ", ".join(f"{k}={v}" for k, v in self.values.items())

    def to_dict(self) -> dict[str, Any]:
        """Returns the slice as JSON-friendly values (NaN as None)."""
        data = asdict(self)
        data["name"] = self.name
        return _nan_to_none(data)


@dataclass
class Gap:
    """One rate compared across the eligible slices of one group at one threshold.

    Attributes:
        metric: One of :data:`GAP_METRICS`.
        group: The sensitive feature or cross.
        threshold: The decision threshold.
        gap: Largest minus smallest value.
        ratio: Smallest over largest value (1.0 when the largest is 0).
        max_slice: The slice with the largest value.
        min_slice: The slice with the smallest value.
        max_value: The largest value.
        min_value: The smallest value.
        worst_slice: For FPR and FNR the highest, for TPR the lowest, for the positive
            rate the one furthest from the overall rate.
        ci_low: Lower end of the 95% interval of the gap (Newcombe).
        ci_high: Upper end of that interval.
        significant: Whether the interval excludes 0.
        slices: Names of the slices compared.
        excluded: Slices left out, with the reason.
    """

    metric: str
    group: str
    threshold: float
    gap: float
    ratio: float
    max_slice: str
    min_slice: str
    max_value: float
    min_value: float
    worst_slice: str
    ci_low: float
    ci_high: float
    significant: bool
    slices: list[str]
    excluded: dict[str, str]

    @property
    def gap_key(self) -> str:
        """``<metric>_gap_<group>@<threshold>``, the Metrics key of the gap."""
        return fairness_key(self.metric, self.group, self.threshold)

    @property
    def ratio_key(self) -> str:
        """``<metric>_ratio_<group>@<threshold>``, the Metrics key of the ratio."""
        return fairness_key(self.metric, self.group, self.threshold, kind=RATIO)

    def to_dict(self) -> dict[str, Any]:
        """Returns the gap as JSON-friendly values, keys included."""
        data = asdict(self)
        data.update(gap_key=self.gap_key, ratio_key=self.ratio_key)
        return _nan_to_none(data)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


# ----------------------------------------------------------------------------- gaps


def exclusion_reason(
    result: SliceResult, metric: str, threshold: float, min_slice_size: int
) -> Optional[str]:
    """Says why a slice is left out of a gap, or None when it takes part."""
    if result.example_count < min_slice_size:
        return f"{result.example_count} examples, below min_slice_size {min_slice_size}"
    rate = result.rates[threshold_label(threshold)][metric]
    if rate.denominator <= 0 or not math.isfinite(rate.value):
        what = {
            "false_positive_rate": "no actual negatives",
            "false_negative_rate": "no actual positives",
            "true_positive_rate": "no actual positives",
            "positive_rate": "no examples",
        }[metric]
        return f"{what}: {METRIC_ABBREVIATIONS[metric]} is undefined"
    return None


def compute_gaps(slices: Sequence[SliceResult], settings: SliceSettings) -> list[Gap]:
    """Computes every gap: per group, threshold and metric, over the eligible slices.

    A group with fewer than two eligible slices for a metric gets no gap (it is then
    absent from the list; its slices still appear, with their reasons, in the report).

    Args:
        slices: All slices of one model, the overall slice included.
        settings: Groups, thresholds and ``min_slice_size``.

    Returns:
        The gaps, ordered by group (features, then crosses), threshold and metric.
    """
    overall = next((s for s in slices if s.group == OVERALL), None)
    gaps = []
    for group, _ in settings.groups():
        members = [s for s in slices if s.group == group]
        for threshold in settings.thresholds:
            label = threshold_label(threshold)
            for metric in GAP_METRICS:
                excluded, eligible = {}, []
                for s in members:
                    reason = exclusion_reason(s, metric, threshold, settings.min_slice_size)
                    if reason:
                        excluded[s.name] = reason
                    else:
                        eligible.append(s)
                if len(eligible) < 2:
                    continue
                hi = max(eligible, key=lambda s: s.rates[label][metric].value)
                lo = min(eligible, key=lambda s: s.rates[label][metric].value)
                hi_rate, lo_rate = hi.rates[label][metric], lo.rates[label][metric]
                ci_low, ci_high = difference_interval(hi_rate, lo_rate)
                gaps.append(
                    Gap(
                        metric=metric,
                        group=group,
                        threshold=threshold,
                        gap=hi_rate.value - lo_rate.value,
                        ratio=lo_rate.value / hi_rate.value if hi_rate.value > 0 else 1.0,
                        max_slice=hi.name,
                        min_slice=lo.name,
                        max_value=hi_rate.value,
                        min_value=lo_rate.value,
                        worst_slice=_worst(metric, eligible, label, overall, hi, lo).name,
                        ci_low=ci_low,
                        ci_high=ci_high,
                        significant=ci_low > 0,
                        slices=[s.name for s in eligible],
                        excluded=excluded,
                    )
                )
    return gaps


def _worst(
    metric: str,
    eligible: Sequence[SliceResult],
    label: str,
    overall: Optional[SliceResult],
    hi: SliceResult,
    lo: SliceResult,
) -> SliceResult:
    if metric in ("false_positive_rate", "false_negative_rate"):
        return hi
    if metric == "true_positive_rate":
        return lo
    if overall is None:
        return hi
    centre = overall.rates[label][metric].value
    return max(eligible, key=lambda s: abs(s.rates[label][metric].value - centre))


# ----------------------------------------------------------------------------- metrics


def gap_metrics(gaps: Sequence[Gap]) -> dict[str, float]:
    """Returns the Metrics entries of the gaps: each gap, ratio and verdict, and the worst.

    Keys: ``<metric>_gap_<group>@<t>``, ``<metric>_ratio_<group>@<t>``,
    ``<metric>_gap_significant_<group>@<t>`` (1.0 or 0.0), ``max_<metric>_gap`` (over
    groups and thresholds), ``max_fairness_gap``, ``min_fairness_ratio``,
    ``max_significant_fairness_gap`` (0.0 when none) and ``significant_gap_count``.
    """
    out: dict[str, float] = {}
    for g in gaps:
        out[g.gap_key] = float(g.gap)
        out[g.ratio_key] = float(g.ratio)
        flag_key = fairness_key(g.metric, g.group, g.threshold, kind=SIGNIFICANT)
        out[flag_key] = 1.0 if g.significant else 0.0
    for metric in GAP_METRICS:
        values = [g.gap for g in gaps if g.metric == metric]
        if values:
            out[f"max_{metric}_gap"] = float(max(values))
    if gaps:
        out[MAX_FAIRNESS_GAP] = float(max(g.gap for g in gaps))
        out["min_fairness_ratio"] = float(min(g.ratio for g in gaps))
    significant = [g.gap for g in gaps if g.significant]
    out["max_significant_fairness_gap"] = float(max(significant, default=0.0))
    out["significant_gap_count"] = float(len(significant))
    return out


def quality_metrics(overall: SliceResult) -> dict[str, float]:
    """Returns ``auc``, ``accuracy``, ``precision``, ``recall`` and ``example_count``."""
    out = {k: float(v) for k, v in overall.quality.items() if v is not None}
    out["example_count"] = float(overall.example_count)
    return out


def baseline_metrics(
    candidate: dict[str, float], baseline: dict[str, float], gaps: Sequence[Gap]
) -> dict[str, float]:
    """Returns ``baseline_<key>`` and ``delta_<key>`` (candidate minus baseline).

    Covers the overall quality keys, every gap and ratio key, ``max_fairness_gap``,
    ``min_fairness_ratio`` and ``significant_gap_count``; a key only one model has gets
    its ``baseline_`` entry (when the baseline has it) but no delta.
    """
    keys = [*QUALITY_KEYS]
    for g in gaps:
        keys += [g.gap_key, g.ratio_key]
    keys += [
        k
        for k in baseline
        if (parsed := parse_fairness_key(k)) is not None and parsed.is_metric and k not in keys
    ]
    keys += [MAX_FAIRNESS_GAP, "min_fairness_ratio", "significant_gap_count"]
    out = {}
    for key in keys:
        if key in baseline:
            out[with_role(BASELINE, key)] = float(baseline[key])
            if key in candidate:
                out[with_role(DELTA, key)] = float(candidate[key] - baseline[key])
    return out


def change_statements(
    candidate: Sequence[Gap], baseline: Sequence[Gap], min_change: float = 0.005
) -> list[str]:
    """Describes how each gap moved from the baseline to the candidate, largest first.

    E.g. ``"the candidate widened the FNR gap for sex@0.5 from 0.04 to 0.09 (+0.05)"``;
    changes smaller than ``min_change`` are left out.
    """
    base = {g.gap_key: g for g in baseline}
    changes = []
    for g in candidate:
        b = base.get(g.gap_key)
        if b is None:
            continue
        delta = g.gap - b.gap
        if abs(delta) < min_change:
            continue
        verb = "widened" if delta > 0 else "narrowed"
        what = f"{METRIC_ABBREVIATIONS[g.metric]} gap for {g.group}@{threshold_label(g.threshold)}"
        flag = " (now significant)" if g.significant and not b.significant else ""
        changes.append(
            (
                abs(delta),
                f"the candidate {verb} the {what} from {b.gap:.2f} to {g.gap:.2f} "
                f"({delta:+.2f}){flag}",
            )
        )
    return [text for _, text in sorted(changes, key=lambda c: -c[0])]
