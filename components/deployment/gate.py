"""The gate's checks: a policy against the metrics of training, compression and fairness.

Which metric each check reads (first source that has it):

==================================  ===============================================
check                               metric read
==================================  ===============================================
``min_auc``, ``min_accuracy``       fairness ``auc``/``accuracy`` (the shipped candidate
                                    evaluated), else compression ``compressed_auc``/
                                    ``compressed_accuracy``, else training ``auc``/``accuracy``
``max_accuracy_drop_vs_base``       compression ``accuracy_drop``
``max_fairness_gap`` (a number)     fairness ``max_fairness_gap``
``max_fairness_gap`` (per metric)   fairness ``<metric>_gap_<feature>@<fairness_threshold>``
``max_training_emissions_kg``       training ``emissions_kg_co2eq``
``max_model_bytes``                 compression ``compressed_bytes``, else training ``model_bytes``
``max_p95_latency_ms``              compression ``compressed_latency_p95_ms``
``max_inference_energy_kwh_per_1k`` compression ``compressed_inference_energy_kwh_per_1k``
``min_improvement_vs_live``         candidate ``champion_metric`` (as ``min_auc`` reads it)
                                    minus the live version's recorded value
==================================  ===============================================

A check that is on and whose metric no input has is an error, never a silent pass.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional

from greenkfp.components._shared import step_keys as keys
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.step_keys import GAP, fairness_key, parse_fairness_key
from greenkfp.components._shared.step_records import FAIL, PASS, SKIPPED, BlessingRecord, Check
from greenkfp.components.deployment.policy import Policy

SOURCES = ("fairness", "compression", "training")

# Per check: the (source, metric) pairs it reads, in order of preference.
_READS: dict[str, list[tuple[str, str]]] = {
    "min_auc": [
        ("fairness", "auc"),
        ("compression", keys.EVAL_AUC.compressed_key),
        ("training", "auc"),
    ],
    "min_accuracy": [
        ("fairness", "accuracy"),
        ("compression", keys.EVAL_ACCURACY.compressed_key),
        ("training", "accuracy"),
    ],
    "max_accuracy_drop_vs_base": [("compression", keys.ACCURACY_DROP)],
    "max_training_emissions_kg": [("training", "emissions_kg_co2eq")],
    "max_model_bytes": [
        ("compression", keys.TFLITE_SIZE.compressed_key),
        ("training", "model_bytes"),
    ],
    "max_p95_latency_ms": [("compression", keys.LATENCY_P95.compressed_key)],
    "max_inference_energy_kwh_per_1k": [("compression", keys.COMPRESSED_INFERENCE_ENERGY)],
}
_QUALITY = {"auc": "min_auc", "accuracy": "min_accuracy"}


@dataclass
class LiveModel:
    """The version currently live in the registry and its recorded candidate metrics."""

    version: int
    uri: str
    metrics: dict[str, float]


@dataclass
class GateResult:
    """The gate's decision and everything that led to it.

    Attributes:
        approved: Whether no check failed.
        checks: Every check with its value, threshold and verdict.
        candidate_metrics: The candidate's ``auc``/``accuracy`` and where each came from.
        policy: The effective policy, defaults filled in.
        live: The live version compared with, or None.
        inputs: Per source given, its ``uri`` and the ``metrics`` read.
        model_name: The model's name, for the summary (``""`` when none was given).
    """

    approved: bool
    checks: list[Check]
    candidate_metrics: dict[str, dict[str, Any]]
    policy: dict[str, Any]
    live: Optional[LiveModel] = None
    inputs: dict[str, Any] = field(default_factory=dict)
    model_name: str = ""

    @property
    def reasons(self) -> list[str]:
        """Failed checks, one line each (empty when approved)."""
        return [c.reason() for c in self.checks if c.verdict == FAIL]

    @property
    def figures(self) -> dict[str, float]:
        """The numbers for the step's Metrics (``BlessingRecord.figures``)."""
        return self.record().figures

    @property
    def metadata(self) -> dict[str, Any]:
        """The blessing artifact's metadata (``BlessingRecord.METADATA_KEYS``)."""
        return self.record().metadata

    def record(self) -> BlessingRecord:
        """Returns the blessing record that ``evaluate_gate`` writes."""
        return BlessingRecord(
            approved=self.approved,
            reasons=self.reasons,
            checks=list(self.checks),
            candidate_metrics=self.candidate_metrics,
            policy=self.policy,
            live=asdict(self.live) if self.live else None,
            inputs=self.inputs,
        )

    def to_dict(self) -> dict[str, Any]:
        """Returns the blessing record (JSON-ready)."""
        return self.record().to_dict()


def numeric_metrics(metadata: Optional[Mapping[str, Any]]) -> Optional[dict[str, float]]:
    """Keeps the numbers of a ``Metrics`` artifact's metadata; ``None`` stays ``None``."""
    if metadata is None:
        return None
    return {
        str(k): float(v)
        for k, v in metadata.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _read(
    sources: Mapping[str, Optional[Mapping[str, float]]], pairs: list[tuple[str, str]]
) -> Optional[tuple[str, float]]:
    for source, metric in pairs:
        values = sources.get(source)
        if values is not None and metric in values:
            return f"{source}.{metric}", float(values[metric])
    return None


def _missing(name: str, pairs: list[tuple[str, str]], given: list[str]) -> str:
    wanted = " or ".join(f"{source} metric {metric!r}" for source, metric in pairs)
    return f"{name} needs {wanted}; given inputs: {', '.join(given) or 'none'}"


def _verdict(value: float, threshold: float, comparison: str) -> str:
    if math.isnan(value):
        return FAIL
    ok = value >= threshold if comparison == ">=" else value <= threshold
    return PASS if ok else FAIL


def _gaps(fairness: Mapping[str, float], decision: float) -> dict[tuple[str, str], str]:
    """Maps (metric, feature) to the fairness key measured at the decision threshold."""
    found = {}
    for key in fairness:
        parsed = parse_fairness_key(key)
        # Only the candidate's own gaps: not a ratio, a significance flag, baseline or delta.
        if parsed is None or not parsed.is_metric or parsed.kind != GAP:
            continue
        if math.isclose(float(parsed.threshold), decision, abs_tol=1e-9):
            found[(parsed.metric, parsed.feature)] = key
    return found


def candidate_metrics(sources: Mapping[str, Optional[Mapping[str, float]]]) -> dict[str, dict]:
    """Resolves the candidate's quality figures (``auc``, ``accuracy``) and where each came from.

    These are what the registry records for a deployed version, and what a later gate's
    champion/challenger check compares against.
    """
    resolved = {}
    for metric, check in _QUALITY.items():
        found = _read(sources, _READS[check])
        if found:
            resolved[metric] = {"value": found[1], "source": found[0]}
    return resolved


def evaluate(
    policy: Policy,
    training: Optional[Mapping[str, float]] = None,
    compression: Optional[Mapping[str, float]] = None,
    fairness: Optional[Mapping[str, float]] = None,
    live: Optional[LiveModel] = None,
    champion_check: bool = False,
) -> GateResult:
    """Runs every check the policy turns on.

    Args:
        policy: The parsed policy.
        training: Training metrics, or ``None`` when not given.
        compression: Compression metrics, or ``None``.
        fairness: Fairness metrics, or ``None``.
        live: The live model when the registry has one.
        champion_check: Whether a registry was named; then ``min_improvement_vs_live``
            runs (skipped when nothing is live yet).

    Returns:
        The result; approved when no check failed.

    Raises:
        InputError: When a check that is on needs a metric no input has (all such
            checks are named at once).
    """
    sources = {"training": training, "compression": compression, "fairness": fairness}
    given = [s for s in SOURCES if sources[s] is not None]
    checks: list[Check] = []
    missing: list[str] = []

    def add(name: str, pairs: list[tuple[str, str]], threshold: float, comparison: str) -> None:
        found = _read(sources, pairs)
        if found is None:
            missing.append(_missing(name, pairs, given))
            return
        metric, value = found
        checks.append(
            Check(
                name, metric, value, threshold, comparison, _verdict(value, threshold, comparison)
            )
        )

    for name, threshold in policy.thresholds.items():
        if name == "min_improvement_vs_live":
            continue
        add(name, _READS[name], threshold, ">=" if name.startswith("min_") else "<=")

    bounds = policy.max_fairness_gap
    if isinstance(bounds, float):
        add("max_fairness_gap", [("fairness", "max_fairness_gap")], bounds, "<=")
    elif isinstance(bounds, dict):
        at = policy.fairness_threshold
        measured = _gaps(fairness or {}, at)
        for metric, bound in bounds.items():
            if isinstance(bound, dict):
                wanted = dict(bound)
            else:
                wanted = {f: bound for (m, f) in measured if m == metric}
                if not wanted:
                    missing.append(
                        f"max_fairness_gap.{metric} needs fairness metrics "
                        f"'{fairness_key(metric, '<feature>', at)}'; "
                        + ("none were measured" if fairness is not None else "no fairness input")
                    )
            for feature, limit in sorted(wanted.items()):
                key = measured.get((metric, feature), fairness_key(metric, feature, at))
                add(f"max_fairness_gap[{metric}/{feature}]", [("fairness", key)], limit, "<=")

    if champion_check and "min_improvement_vs_live" in policy.thresholds:
        threshold = policy.thresholds["min_improvement_vs_live"]
        metric = policy.champion_metric
        name = "min_improvement_vs_live"
        if live is None:
            checks.append(
                Check(name, "", None, threshold, ">=", SKIPPED, "no live model in the registry")
            )
        else:
            found = _read(sources, _READS[_QUALITY[metric]])
            if found is None:
                missing.append(_missing(name, _READS[_QUALITY[metric]], given))
            elif metric not in live.metrics:
                missing.append(
                    f"{name} needs {metric!r} recorded for live version {live.version} "
                    f"({live.uri}/metrics.json); it records {sorted(live.metrics)}"
                )
            else:
                delta = found[1] - float(live.metrics[metric])
                checks.append(
                    Check(
                        name,
                        f"{found[0]} - live v{live.version} {metric}",
                        delta,
                        threshold,
                        ">=",
                        _verdict(delta, threshold, ">="),
                        f"candidate {found[1]:.6g} vs live {float(live.metrics[metric]):.6g}",
                    )
                )

    if missing:
        raise InputError("gate: a check's metric is missing: " + "; ".join(missing))
    return GateResult(
        approved=all(c.verdict != FAIL for c in checks),
        checks=checks,
        candidate_metrics=candidate_metrics(sources),
        policy=policy.to_dict(),
        live=live,
    )
