"""When to retrain: the policy, its thresholds, and the verdict with every reason's figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.retrain_decision import POLICIES
from greenkfp.components.continuous_training.drift import DriftFinding
from greenkfp.components.continuous_training.fairness_check import fairness_reasons

DRIFT, QUALITY_DROP, EITHER, ALWAYS = POLICIES


@dataclass
class Thresholds:
    """What counts as drift and as a quality drop.

    Attributes:
        psi: A feature drifts when its PSI is above this (0.25: a major shift).
        ks_p_value: ... and by KS when the p-value is below this ...
        ks_min_statistic: ... and the KS statistic above this.
        jensen_shannon: TFDV Jensen-Shannon divergence above which a numeric feature drifts.
        l_infinity: TFDV L-infinity distance above which a categorical feature drifts.
        max_quality_drop: The live model's recorded AUC less its AUC on the new data above
            which quality dropped.
    """

    psi: float = 0.25
    ks_p_value: float = 0.01
    ks_min_statistic: float = 0.1
    jensen_shannon: float = 0.1
    l_infinity: float = 0.1
    max_quality_drop: float = 0.02

    #: Each threshold's ``decide_retraining`` input.
    INPUTS: ClassVar[dict[str, str]] = {
        "psi": "psi_threshold",
        "ks_p_value": "ks_p_value",
        "ks_min_statistic": "ks_min_statistic",
        "jensen_shannon": "numeric_drift_threshold",
        "l_infinity": "categorical_drift_threshold",
        "max_quality_drop": "max_quality_drop",
    }

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> Thresholds:
        """The thresholds ``decide_retraining``'s inputs give; others keep their defaults."""
        return cls(**{field: inputs[name] for field, name in cls.INPUTS.items() if name in inputs})

    def __post_init__(self) -> None:
        for name in ("ks_p_value", "ks_min_statistic", "jensen_shannon", "l_infinity"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise InputError(f"threshold {name} must be in (0, 1], got {value}")
        if self.psi <= 0.0:
            raise InputError(f"threshold psi must be above 0, got {self.psi}")
        if not 0.0 <= self.max_quality_drop <= 1.0:
            raise InputError(f"max_quality_drop must be in [0, 1], got {self.max_quality_drop}")


def check_policy(policy: str) -> str:
    """Returns the policy when it is known, else raises :class:`InputError` listing them."""
    if policy not in POLICIES:
        raise InputError(f"retrain policy must be one of {list(POLICIES)}, got {policy!r}")
    return policy


def uses_drift(policy: str) -> bool:
    """Whether the policy looks at drift."""
    return policy in (DRIFT, EITHER)


def uses_quality(policy: str) -> bool:
    """Whether the policy looks at the live model's quality on the new data."""
    return policy in (QUALITY_DROP, EITHER)


def drift_reasons(findings: Sequence[DriftFinding]) -> tuple[bool, list[str]]:
    """Whether any feature drifted, with one reason per drifted finding.

    Without drift, one reason per test gives its largest value, feature and threshold.
    """
    drifted = [f for f in findings if f.drifted]
    if drifted:
        return True, [f"drift: {f.reason()}" for f in drifted]
    reasons = []
    for test in dict.fromkeys(f.test for f in findings):
        worst = max((f for f in findings if f.test == test), key=lambda f: f.value)
        reasons.append(f"no drift: largest {worst.reason()}")
    return False, reasons or ["no drift: no feature to compare"]


def quality_reason(quality: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the live model's quality dropped on the new data, with the figures."""
    line = (
        f"live {quality['metric']} {quality['recorded']:.4f} recorded, "
        f"{quality['on_new_data']:.4f} on the new data ({quality['rows']} labelled rows): "
        f"drop {quality['drop']:.4f}"
    )
    if quality["dropped"]:
        return True, f"quality drop: {line} > {quality['threshold']:.4f}"
    return False, f"no quality drop: {line} <= {quality['threshold']:.4f}"


def decide(
    policy: str,
    findings: Sequence[DriftFinding],
    quality: Mapping[str, Any],
    quality_missing: str = "",
) -> tuple[bool, list[str]]:
    """Applies the policy to the measurements.

    Args:
        policy: One of :data:`POLICIES`.
        findings: Drift findings (used when the policy looks at drift).
        quality: The live model on the new data (empty when not measured).
        quality_missing: Why quality was not measured, when it was not.

    Returns:
        ``(retrain, reasons)``: the reasons for the verdict, each with its figure.

    Raises:
        InputError: ``quality_drop`` alone, and quality could not be measured.
    """
    check_policy(policy)
    if policy == ALWAYS:
        return True, ["policy 'always': retrain on every run"]
    retrain, reasons = False, []
    if uses_drift(policy):
        drifted, lines = drift_reasons(findings)
        retrain, reasons = drifted, lines
    if uses_quality(policy):
        if quality:
            dropped, line = quality_reason(quality)
            retrain = retrain or dropped
            reasons.append(line)
            reasons += fairness_reasons(quality.get("fairness") or [])
        elif policy == QUALITY_DROP:
            raise InputError(f"policy 'quality_drop' needs labelled new data: {quality_missing}")
        else:
            reasons.append(f"quality not measured: {quality_missing}")
    return retrain, reasons
