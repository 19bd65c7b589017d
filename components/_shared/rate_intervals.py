"""Rates of a confusion matrix with 95% intervals, and the interval of a gap between two.

Shared by the fairness evaluation (gaps between slices) and the fairness mitigation
(gaps before and after a remedy), so both report the same figures the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054
"""Standard normal quantile of a two-sided 95% interval."""


@dataclass
class RateValue:
    """One rate of one slice at one threshold, with its 95% Wilson interval.

    Attributes:
        value: The rate; NaN when its denominator is 0.
        low: Lower end of the interval.
        high: Upper end of the interval.
        numerator: Count of the events the rate counts (e.g. false positives).
        denominator: Count it is divided by (e.g. actual negatives).
    """

    value: float
    low: float
    high: float
    numerator: float
    denominator: float


def wilson_interval(successes: float, trials: float, z: float = Z_95) -> tuple[float, float]:
    """Returns the Wilson score interval of a proportion; ``(0, 1)`` without trials.

    Unlike the normal approximation it stays inside [0, 1] and does not collapse to a point
    when the observed rate is 0 or 1, which matters for small slices.
    """
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return low, high


def difference_interval(high: RateValue, low: RateValue) -> tuple[float, float]:
    """Returns Newcombe's hybrid score interval of ``high.value - low.value``.

    Newcombe (1998), method 10: built from the two Wilson intervals, for independent
    slices. (Overlapping slices of a cross and a feature are never compared.)
    """
    d = high.value - low.value
    lower = d - math.sqrt((high.value - high.low) ** 2 + (low.high - low.value) ** 2)
    upper = d + math.sqrt((high.high - high.value) ** 2 + (low.value - low.low) ** 2)
    return lower, upper


def rates_from_counts(tp: float, fp: float, tn: float, fn: float) -> dict[str, RateValue]:
    """Returns the four :data:`GAP_METRICS` of a confusion matrix, with Wilson intervals."""
    fractions = {
        "false_positive_rate": (fp, fp + tn),
        "false_negative_rate": (fn, fn + tp),
        "positive_rate": (tp + fp, tp + fp + tn + fn),
        "true_positive_rate": (tp, tp + fn),
    }
    out = {}
    for metric, (num, den) in fractions.items():
        value = num / den if den > 0 else float("nan")
        low, high = wilson_interval(num, den)
        out[metric] = RateValue(value, low, high, float(num), float(den))
    return out
