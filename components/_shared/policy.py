"""The gate's policy: a YAML or JSON document of checks and thresholds, parsed strictly.

The deployment gate judges a model by it, and the fairness mitigation step reads which
gaps it bounds and which remedy it names (``mitigation``); so it lives here, shared.

Every key is optional; a missing key takes its default from :data:`DEFAULTS`, and
``null`` turns a check off. Unknown keys, wrong types and out-of-range values are
errors (:class:`InputError` naming the key), so a typo never turns a check off silently.

Example::

    min_auc: 0.75
    max_accuracy_drop_vs_base: 0.02
    max_fairness_gap:
      false_positive_rate: {sex: 0.1}
      false_negative_rate: 0.15          # every feature the fairness step measured
    max_model_bytes: 200000
    min_improvement_vs_live: 0.0
    mitigation: auto                     # none (default), auto, thresholds, reweigh, expgrad

``mitigation: reweigh`` acts at training time: ``train_model`` reads the same policy and
trains with reweighing sample weights over the features named in ``max_fairness_gap``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Union

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.step_keys import GAP_METRICS

#: Metrics the champion/challenger check can compare.
CHAMPION_METRICS = ("auc", "accuracy")

_INF = math.inf


@dataclass(frozen=True)
class _Threshold:
    """A numeric policy key: its allowed range and what it means."""

    low: float
    high: float
    integer: bool = False


#: Numeric threshold keys and their allowed ranges (inclusive).
THRESHOLDS: dict[str, _Threshold] = {
    "min_auc": _Threshold(0.0, 1.0),
    "min_accuracy": _Threshold(0.0, 1.0),
    "max_accuracy_drop_vs_base": _Threshold(0.0, 1.0),
    "max_training_emissions_kg": _Threshold(0.0, _INF),
    "max_model_bytes": _Threshold(0.0, _INF, integer=True),
    "max_p95_latency_ms": _Threshold(0.0, _INF),
    "max_inference_energy_kwh_per_1k": _Threshold(0.0, _INF),
    "min_improvement_vs_live": _Threshold(-1.0, 1.0),
}

#: Fairness remedies a policy may name (``mitigation``); ``auto`` tries them by cost.
MITIGATION_METHODS = ("none", "auto", "thresholds", "reweigh", "expgrad")

#: Every key a policy may hold, with its default (``None``: the check is off).
DEFAULTS: dict[str, Any] = {
    "min_auc": 0.5,
    "min_accuracy": None,
    "max_accuracy_drop_vs_base": None,
    "max_fairness_gap": None,
    "fairness_threshold": 0.5,
    "max_training_emissions_kg": None,
    "max_model_bytes": None,
    "max_p95_latency_ms": None,
    "max_inference_energy_kwh_per_1k": None,
    "min_improvement_vs_live": 0.0,
    "champion_metric": "auc",
    "mitigation": "none",
}

#: A fairness bound: one number for every feature, or a number per feature.
FairnessBound = Union[float, dict[str, float]]


@dataclass(frozen=True)
class Policy:
    """A parsed, validated policy.

    Attributes:
        thresholds: Numeric checks that are on, by key (see :data:`THRESHOLDS`).
        max_fairness_gap: ``None`` (off), one number (bounds the fairness step's overall
            ``max_fairness_gap``), or bounds per fairness metric, each one number (every
            feature) or a number per feature.
        fairness_threshold: The decision threshold whose fairness figures are read.
        champion_metric: What ``min_improvement_vs_live`` compares (``auc`` or ``accuracy``).
        source: The policy as given, re-serialized (JSON) for the record.
        mitigation: The fairness remedy to try when a gated gap is over its bound (one of
            :data:`MITIGATION_METHODS`; ``none`` tries nothing).
    """

    thresholds: dict[str, float]
    max_fairness_gap: Union[None, float, dict[str, FairnessBound]] = None
    fairness_threshold: float = 0.5
    champion_metric: str = "auc"
    source: dict[str, Any] = field(default_factory=dict)
    mitigation: str = "none"

    def to_dict(self) -> dict[str, Any]:
        """Returns the effective policy (defaults filled in), JSON-ready."""
        effective = dict(DEFAULTS)
        effective.update({k: None for k in THRESHOLDS})
        effective.update(self.thresholds)
        effective["max_fairness_gap"] = self.max_fairness_gap
        effective["fairness_threshold"] = self.fairness_threshold
        effective["champion_metric"] = self.champion_metric
        effective["mitigation"] = self.mitigation
        return effective


def _number(key: str, value: Any, low: float, high: float, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"policy: {key} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InputError(f"policy: {key} must be finite, got {value!r}")
    if integer and number != int(number):
        raise InputError(f"policy: {key} must be a whole number, got {value!r}")
    if not low <= number <= high:
        upper = "inf" if high == _INF else f"{high:g}"
        raise InputError(f"policy: {key} must be in [{low:g}, {upper}], got {value!r}")
    return number


def _fairness_bounds(value: Any) -> Union[None, float, dict[str, FairnessBound]]:
    key = "max_fairness_gap"
    if value is None:
        return None
    if not isinstance(value, dict):
        return _number(key, value, 0.0, 1.0)
    if not value:
        raise InputError(f"policy: {key} is an empty mapping; give bounds or null")
    bounds: dict[str, FairnessBound] = {}
    for metric, bound in value.items():
        if metric not in GAP_METRICS:
            raise InputError(
                f"policy: {key} has unknown fairness metric {metric!r}; "
                f"known: {', '.join(GAP_METRICS)}"
            )
        if isinstance(bound, dict):
            if not bound:
                raise InputError(f"policy: {key}.{metric} is an empty mapping")
            bounds[metric] = {
                str(feature): _number(f"{key}.{metric}.{feature}", v, 0.0, 1.0)
                for feature, v in bound.items()
            }
        else:
            bounds[metric] = _number(f"{key}.{metric}", bound, 0.0, 1.0)
    return bounds


def load_document(text: str) -> dict[str, Any]:
    """Parses policy text (YAML or JSON); empty text is an empty policy.

    Raises:
        InputError: When the text is not YAML/JSON or not a mapping.
    """
    if not text or not text.strip():
        return {}
    import yaml

    from greenkfp.components._shared import yaml_text

    try:
        document = yaml_text.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"policy is not valid YAML or JSON: {err}") from err
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise InputError(
            f"policy must be a mapping of check names to thresholds, got {type(document).__name__}"
        )
    return document


def parse_policy(text: str) -> Policy:
    """Parses and validates a policy; see the module docstring and :data:`DEFAULTS`.

    Args:
        text: YAML or JSON text; empty means every default.

    Returns:
        The validated policy.

    Raises:
        InputError: Malformed text, an unknown key, a wrong type or an out-of-range value,
            or a policy that turns every check off.
    """
    document = load_document(text)
    unknown = sorted(str(k) for k in document if k not in DEFAULTS)
    if unknown:
        raise InputError(
            f"policy: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(DEFAULTS)}"
        )
    merged = {**DEFAULTS, **document}
    thresholds = {}
    for key, spec in THRESHOLDS.items():
        if merged[key] is not None:
            thresholds[key] = _number(key, merged[key], spec.low, spec.high, spec.integer)
    fairness = _fairness_bounds(merged["max_fairness_gap"])
    decision = _number("fairness_threshold", merged["fairness_threshold"], 0.0, 1.0)
    champion = merged["champion_metric"]
    if champion not in CHAMPION_METRICS:
        raise InputError(
            f"policy: champion_metric must be one of {', '.join(CHAMPION_METRICS)}, "
            f"got {champion!r}"
        )
    mitigation = merged["mitigation"]
    if mitigation not in MITIGATION_METHODS:
        raise InputError(
            f"policy: mitigation must be one of {', '.join(MITIGATION_METHODS)}, got {mitigation!r}"
        )
    # min_improvement_vs_live alone only acts with a live model; a policy needs a real check.
    standalone = {k for k in thresholds if k != "min_improvement_vs_live"}
    if not standalone and fairness is None:
        raise InputError(
            "policy turns every check off; a gate that checks nothing would bless any model"
        )
    return Policy(
        thresholds=thresholds,
        max_fairness_gap=fairness,
        fairness_threshold=decision,
        champion_metric=champion,
        source=json.loads(json.dumps(document, default=str)),
        mitigation=mitigation,
    )
