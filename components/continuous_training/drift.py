"""Drift of numeric features between a reference sample and new data: PSI and two-sample KS.

Both are plain functions of two arrays, so they are testable without TFDV or KFP. The
TFDV distances (Jensen-Shannon, L-infinity) of the statistics are measured by
:func:`greenkfp.components._shared.tfdv_drift.measure_drift`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError

PSI_BINS = 10
"""Quantile bins of the reference that PSI compares shares in (deciles)."""

PSI_FLOOR = 1e-4
"""Smallest share a bin counts with, so an empty bin gives a large but finite PSI."""

PSI, KS, JENSEN_SHANNON, L_INFINITY = "psi", "ks", "jensen_shannon", "l_infinity"
"""The tests a finding names."""


@dataclass
class DriftFinding:
    """One feature measured by one test.

    Attributes:
        feature: The column.
        test: :data:`PSI`, :data:`KS`, :data:`JENSEN_SHANNON` or :data:`L_INFINITY`.
        value: PSI, the KS statistic, or the TFDV distance.
        threshold: The value above which the feature drifted.
        drifted: Whether it did.
        p_value: The KS test's p-value (None for other tests).
    """

    feature: str
    test: str
    value: float
    threshold: float
    drifted: bool
    p_value: float | None = None

    def reason(self) -> str:
        """One line with the figure, e.g. ``duration: PSI 0.41 > 0.2``."""
        op = ">" if self.drifted else "<="
        line = f"{self.feature}: {self.test.replace('_', '-')} {self.value:.3g} {op} "
        line += f"{self.threshold:.3g}"
        return line + (f" (p={self.p_value:.2g})" if self.p_value is not None else "")

    def to_dict(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict."""
        return asdict(self)


def _values(values: Iterable[float], name: str, which: str) -> np.ndarray:
    array = pd.to_numeric(pd.Series(list(values)), errors="coerce").dropna().to_numpy(float)
    if array.size == 0:
        raise InputError(f"feature {name!r} has no numeric values in the {which} data")
    return array


def psi(reference: Iterable[float], current: Iterable[float], bins: int = PSI_BINS) -> float:
    """Population stability index of ``current`` against ``reference``.

    Bins are the reference's quantiles (equal shares of the reference), open at both
    ends; ``sum((c - r) * ln(c / r))`` over bins, shares floored at :data:`PSI_FLOOR`.
    Rule of thumb: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 a major shift.
    """
    ref = _values(reference, "reference", "reference")
    cur = _values(current, "current", "new")
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1)
    cur_share = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
    r = np.maximum(ref_share / ref.size, PSI_FLOOR)
    c = np.maximum(cur_share / cur.size, PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def ks_two_sample(reference: Iterable[float], current: Iterable[float]) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test (scipy): ``(statistic, p-value)``."""
    from scipy import stats

    result = stats.ks_2samp(
        _values(reference, "reference", "reference"), _values(current, "current", "new")
    )
    return float(result.statistic), float(result.pvalue)


def numeric_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: Iterable[str],
    psi_threshold: float,
    ks_p_value: float,
    ks_min_statistic: float,
) -> list[DriftFinding]:
    """PSI and KS per numeric feature of the new data against the reference sample.

    A feature drifts by KS when the p-value is below ``ks_p_value`` *and* the statistic
    is above ``ks_min_statistic`` (on large data tiny, harmless shifts are significant).

    Raises:
        InputError: When the new data lacks a feature, or a feature has no numbers.
    """
    findings = []
    for name in features:
        if name not in current.columns:
            raise InputError(f"the new data has no column {name!r}, which the live model uses")
        ref, cur = reference[name], current[name]
        value = psi(ref, cur)
        findings.append(DriftFinding(name, PSI, value, psi_threshold, value > psi_threshold))
        statistic, p_value = ks_two_sample(ref, cur)
        drifted = p_value < ks_p_value and statistic > ks_min_statistic
        findings.append(DriftFinding(name, KS, statistic, ks_min_statistic, drifted, p_value))
    return findings
