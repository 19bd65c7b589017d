"""The quality budget's verdict on paired eval rows, and ``auto``'s choice among candidates.

Base and candidate score the same eval rows, so their accuracies are compared row by row
(McNemar's setting): only the rows where exactly one of them decides right carry
information. With ``b`` rows only the base gets right, ``c`` rows only the candidate gets
right and ``n`` rows in all, the observed accuracy drop is ``(b - c) / n``. Conditional on
the ``d = b + c`` discordant rows, ``b ~ Binomial(d, θ)`` and the true drop is
``d / n · (2θ - 1)``; the exact (Clopper-Pearson) upper ``1 - alpha`` bound of ``θ`` gives
the drop's upper bound. A candidate is within budget when that bound, not the observed
drop, is at most the budget: on 200 rows a 1-point budget then admits a candidate that
changes at most two decisions, never one that lost 2.5 points by luck of the draw.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Protocol, Sequence

import numpy as np

from greenkfp.components.compression.config import FLOAT32

#: The figures each objective compares, batch 1 first, then the serving batch.
OBJECTIVE_FIGURES = {
    "energy": ("energy_kwh_per_1k", "batch_energy_kwh_per_1k"),
    "size": ("gzip_bytes",),
    "latency": ("latency_p50_ms", "batch_latency_p50_ms"),
}


@dataclasses.dataclass(frozen=True)
class PairedDrop:
    """The accuracy drop of a candidate against the base on the same rows.

    Attributes:
        drop: Observed accuracy drop, base minus candidate (a fraction).
        upper: Exact upper ``1 - alpha`` bound of the true drop (conditional on the
            discordant rows); 0 when both decide alike on every row.
        p_value: Exact one-sided McNemar p-value that the candidate is no less accurate
            than the base: ``P(Binomial(b + c, 1/2) >= b)``; 1 without discordant rows.
        only_base_right: Rows only the base decides right (``b``).
        only_candidate_right: Rows only the candidate decides right (``c``).
    """

    drop: float
    upper: float
    p_value: float
    only_base_right: int
    only_candidate_right: int


def paired_drop(
    labels: np.ndarray,
    base_scores: np.ndarray,
    candidate_scores: np.ndarray,
    alpha: float = 0.05,
    threshold: float = 0.5,
) -> PairedDrop:
    """Compares two models' per-row decisions on the same labelled rows.

    Args:
        labels: 0/1 labels.
        base_scores: The base model's scores.
        candidate_scores: The candidate's scores, row for row.
        alpha: One-sided error level of the upper bound.
        threshold: Decision threshold (as ``binary_metrics``).

    Returns:
        The observed drop, its exact upper bound and McNemar's p-value.
    """
    from scipy import stats

    truth = np.asarray(labels) == 1
    base_right = (np.asarray(base_scores) >= threshold) == truth
    cand_right = (np.asarray(candidate_scores) >= threshold) == truth
    b = int(np.sum(base_right & ~cand_right))
    c = int(np.sum(~base_right & cand_right))
    n, d = len(truth), b + c
    if d == 0:
        return PairedDrop(0.0, 0.0, 1.0, 0, 0)
    theta_upper = 1.0 if b == d else float(stats.beta.ppf(1 - alpha, b + 1, d - b))
    p_value = float(stats.binom.sf(b - 1, d, 0.5))
    return PairedDrop((b - c) / n, d / n * (2 * theta_upper - 1), p_value, b, c)


class Measured(Protocol):
    """What :func:`choose` reads of a candidate (``task.Candidate``) or the base."""

    name: str
    within_budget: bool

    def figure(self, key: str) -> float:
        """The candidate's figure ``key`` (one of :data:`OBJECTIVE_FIGURES`' values)."""


#: Objectives whose figures are measured (timed or metered), so carry run-to-run noise.
MEASURED_OBJECTIVES = ("energy", "latency")


def pays(candidate: Measured, base: Measured, objective: str, margin: float) -> bool:
    """Whether the candidate beats the base on ``objective`` by more than noise.

    It must be at most ``base * (1 + margin)`` on every figure of the objective (no worse
    beyond noise) and at most ``base * (1 - margin)`` on at least one (a saving beyond
    noise). Sizes are exact, so the size objective uses no margin: smaller is a saving.
    """
    m = margin if objective in MEASURED_OBJECTIVES else 0.0
    pairs = [(candidate.figure(k), base.figure(k)) for k in OBJECTIVE_FIGURES[objective]]
    no_worse = all(c <= b * (1 + m) for c, b in pairs)
    saves = any(c < b * (1 - m) or (m == 0 and c < b) for c, b in pairs)
    return no_worse and saves


def choose(
    candidates: Sequence[Measured], base: Measured, objective: str, margin: float = 0.1
) -> tuple[Any, bool]:
    """``auto``'s pick: the best compressed candidate that pays, else the float32 model.

    A candidate is eligible when it is within budget and :func:`pays` on the objective.
    The best eligible one (lowest figures, batch 1 first) and every one within ``margin``
    of it on every figure are tied (their difference is noise); the smallest of them
    (gzipped bytes, then name) ships, so noise alone does not flip the choice. When none
    is eligible, the float32 candidate (the base, converted without compression) ships:
    it loses nothing and costs nothing more.

    Args:
        candidates: Every candidate tried; one must be named :data:`FLOAT32`.
        base: The base model's figures.
        objective: One of :data:`OBJECTIVE_FIGURES`.
        margin: Relative run-to-run noise of measured figures (latency, energy).

    Returns:
        ``(chosen, fallback)``: ``fallback`` is True when the float32 model ships because
        no compressed candidate paid.

    Raises:
        ValueError: When nothing is eligible and no float32 candidate was tried.
    """
    keys = OBJECTIVE_FIGURES[objective]
    eligible = [
        c
        for c in candidates
        if c.name != FLOAT32 and c.within_budget and pays(c, base, objective, margin)
    ]
    if eligible:
        m = margin if objective in MEASURED_OBJECTIVES else 0.0
        best = min(eligible, key=lambda c: tuple(c.figure(k) for k in keys))
        tied = [c for c in eligible if all(c.figure(k) <= best.figure(k) * (1 + m) for k in keys)]
        return min(tied, key=lambda c: (c.figure("gzip_bytes"), c.name)), False
    fallback: Optional[Measured] = next((c for c in candidates if c.name == FLOAT32), None)
    if fallback is None:
        raise ValueError(f"no candidate pays and no {FLOAT32!r} candidate was tried")
    return fallback, True
