"""What the ``mitigate_fairness`` component does, as plain functions: :func:`run_mitigate_fairness`.

Between the fairness evaluation and the gate: when the policy gates a fairness gap that
the candidate exceeds and names a remedy (``mitigation``), the remedy is tried and kept
when it brings every gated gap within its bound. Thresholds are chosen on the validation
rows carved from the training data; the gaps before and after, the accuracy and AUC
cost, are measured on the evaluation rows the gate judges. The model that leaves the step
(mitigated or not) is what the gate judges and what deploy pushes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional

import numpy as np

from greenkfp.components._shared import group_thresholds
from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.fairness_record import read_settings
from greenkfp.components._shared.holdout import training_carve
from greenkfp.components._shared.labels import encode_label
from greenkfp.components._shared.model_artifact import load_metadata
from greenkfp.components._shared.policy import Policy, parse_policy
from greenkfp.components._shared.reweighing import REFERENCE_DIRNAME, REFERENCE_ENERGY_KEY
from greenkfp.components._shared.step_keys import (
    ENERGY_KEYS,
    MAX_FAIRNESS_GAP,
    fairness_key,
)
from greenkfp.components.mitigation import gated, remedies
from greenkfp.components.mitigation.remedies import Attempt, Rows

RECORD_FILE = "mitigation.json"
NONE = "none"
#: Methods ``auto`` tries, cheapest first.
AUTO_ORDER = ("thresholds", "reweigh", "expgrad")

#: Why reweighing is not tried on a model trained without it.
NOT_REWEIGHED = (
    "the model was not trained reweighed: reweighing happens at training time, so choosing "
    "it means mitigation: reweigh in the policy (train_model then trains with sample "
    "weights w(g,y) = P(g)P(y)/P(g,y) and saves an unweighted reference to compare with)"
)

REFUSED = {
    "expgrad": (
        "fairlearn not in the lock: fairlearn 0.9 with scikit-learn would install beside it "
        "(0.15 would replace pandas 1.5.3), but the component image does not hold it, and "
        "ExponentiatedGradient yields a randomized ensemble of scikit-learn models that the "
        "registry and greenkfp serve could not serve as the gated artifact"
    ),
}


@dataclass
class MitigationOutcome:
    """Everything the component outputs.

    Attributes:
        requested: The policy's ``mitigation``.
        method: The method kept, or ``none``.
        reason: Why that method was kept, or why none was, in one or two sentences.
        gaps: Every gated gap: metric, feature, bound, ``before`` and ``after`` (each
            gap, low, high; ``after`` equals ``before`` when nothing was kept).
        quality: ``before`` and ``after``: accuracy and AUC on the evaluation rows.
        attempts: Each remedy tried or refused.
        figures: The Metrics the gate reads as the fairness figures of the model that
            leaves the step, and ``mitigation_applied``, ``accuracy_cost``, ``auc_cost``.
        thresholds: The kept thresholds (``group_thresholds.json``), or None.
    """

    requested: str
    method: str
    reason: str
    gaps: list[dict[str, Any]]
    quality: dict[str, dict[str, float]]
    attempts: list[Attempt]
    figures: dict[str, float]
    thresholds: Optional[dict[str, Any]] = None
    energy: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        before = self.quality.get("before") or {}
        after = self.quality.get("after") or before
        self.figures["mitigation_applied"] = 0.0 if self.method == NONE else 1.0
        for name in ("accuracy", "auc"):
            cost = before.get(name, math.nan) - after.get(name, math.nan)
            if not math.isnan(cost):
                self.figures[f"{name}_cost"] = float(cost)
        kwh = self.energy.get("energy_kwh")
        if isinstance(kwh, (int, float)) and not math.isnan(kwh):
            self.figures["mitigation_energy_kwh"] = float(kwh)

    def record(self) -> dict[str, Any]:
        """The step's record (``mitigation.json``; the runner's ``run_summary.json`` keys)."""
        return _json_ready(
            {
                "mitigation": self.method,
                "mitigation_requested": self.requested,
                "mitigation_reason": self.reason,
                "mitigation_gaps": self.gaps,
                "mitigation_quality": self.quality,
                "mitigation_attempts": [asdict(a) for a in self.attempts],
                "group_thresholds": self.thresholds,
                "sensitive_feature_at_prediction": (self.thresholds or {}).get("feature", ""),
                "mitigation_energy": self.energy,
            }
        )


def _json_ready(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def _fairness_figures(fairness: Mapping[str, float]) -> dict[str, float]:
    """The fairness step's figures without its energy readings (the step adds its own)."""
    return {k: float(v) for k, v in fairness.items() if k not in ENERGY_KEYS}


def _gate_figures(
    fairness: Mapping[str, float],
    policy: Policy,
    data: Rows,
    scores_after: np.ndarray,
    quality_after: Mapping[str, float],
) -> dict[str, float]:
    """The mitigated model's figures as the gate reads them (every gap at the threshold)."""
    at = policy.fairness_threshold
    pairs = gated.measured_pairs(fairness, at)
    wanted = [gated.GatedGap(m, f, 1.0, at) for m, f in pairs]
    measured = gated.measure(
        wanted, data.eval_df, data.y_eval, scores_after, data.buckets, at, data.min_slice_size
    )
    figures = {
        "auc": quality_after["auc"],
        "accuracy": quality_after["accuracy"],
        "example_count": float(len(data.eval_df)),
    }
    gaps = {fairness_key(m.metric, m.feature, at): m.gap for m in measured}
    figures.update({k: v for k, v in gaps.items() if not math.isnan(v)})
    finite = [v for v in gaps.values() if not math.isnan(v)]
    if finite:
        figures[MAX_FAIRNESS_GAP] = max(finite)
    return {k: float(v) for k, v in figures.items() if not math.isnan(v)}


def _read_data(
    model_path: str,
    trained_model_path: str,
    train_path: str,
    eval_path: str,
    label_column: str,
    positive_label: Any,
    settings: Mapping[str, Any],
) -> Rows:
    from greenkfp.components._shared.predictor import load_predictor

    eval_df = uri_io.read_dataset(eval_path)
    train_df = uri_io.read_dataset(train_path)
    for what, df in (("evaluation", eval_df), ("training", train_df)):
        if label_column not in df.columns:
            raise InputError(
                f"label column {label_column!r} not found in the {what} data; "
                f"columns: {list(df.columns)}"
            )
    y_all = encode_label(train_df[label_column], positive_label)
    metadata = load_metadata(trained_model_path) if trained_model_path else {}
    _, validation = training_carve(y_all, metadata, 42)
    validation_df = train_df.iloc[validation].reset_index(drop=True)
    predict = load_predictor(model_path)
    reference_dir = (
        os.path.join(trained_model_path, REFERENCE_DIRNAME) if trained_model_path else ""
    )
    reference_scores = None
    if reference_dir and os.path.isdir(reference_dir):
        reference_scores = np.asarray(load_predictor(reference_dir)(eval_df), dtype=np.float64)
    return Rows(
        eval_df=eval_df,
        y_eval=encode_label(eval_df[label_column], positive_label),
        scores_eval=np.asarray(predict(eval_df), dtype=np.float64),
        validation_df=validation_df,
        y_validation=y_all[validation],
        scores_validation=np.asarray(predict(validation_df), dtype=np.float64),
        buckets={k: list(v) for k, v in (settings.get("feature_buckets") or {}).items()},
        min_slice_size=int(settings.get("min_slice_size", 20)),
        reference_scores_eval=reference_scores,
        reference_energy=dict(metadata.get(REFERENCE_ENERGY_KEY) or {}),
    )


def mitigate(
    policy: Policy,
    fairness: Mapping[str, float],
    data: Optional[Rows],
    gaps: list[gated.GatedGap],
) -> tuple[MitigationOutcome, Optional[np.ndarray]]:
    """Tries the policy's remedy on measured data; returns the outcome and kept scores."""
    requested = policy.mitigation
    passthrough = _fairness_figures(fairness)
    at = policy.fairness_threshold
    if data is None:
        reason = (
            "the policy gates no fairness gap"
            if not gaps
            else "the policy names no mitigation (mitigation: none)"
        )
        return MitigationOutcome(requested, NONE, reason, [], {}, [], passthrough), None
    if requested == "reweigh" and data.reference_scores_eval is not None:
        return _reweigh_outcome(policy, fairness, data, gaps, passthrough)
    before = gated.measure(
        gaps, data.eval_df, data.y_eval, data.scores_eval, data.buckets, at, data.min_slice_size
    )
    quality = {"before": gated.accuracy_and_auc(data.y_eval, data.scores_eval, at)}
    over = gated.within(gaps, before)
    if not over:
        quality["after"] = quality["before"]
        return MitigationOutcome(
            requested,
            NONE,
            "every gated gap is within the policy; nothing to mitigate",
            remedies.gap_rows(gaps, before, None),
            quality,
            [],
            passthrough,
        ), None
    methods = AUTO_ORDER if requested == "auto" else (requested,)
    attempts: list[Attempt] = []
    for method in methods:
        if method in REFUSED:
            attempts.append(Attempt(method, "refused", REFUSED[method]))
            continue
        if method == "reweigh" and data.reference_scores_eval is None:
            attempts.append(Attempt(method, "refused", NOT_REWEIGHED))
            continue
        if method == "reweigh":
            attempt = remedies.try_reweigh(gaps, data, at)[0]
            scores_after = data.scores_eval if attempt.outcome == "kept" else None
            energy = data.reference_energy
        else:
            attempt, scores_after = remedies.try_thresholds(policy, gaps, before, data)
            energy = {}
        attempts.append(attempt)
        if scores_after is None:
            continue
        quality["after"] = attempt.quality_after
        figures = _gate_figures(fairness, policy, data, scores_after, attempt.quality_after)
        return MitigationOutcome(
            requested,
            method,
            attempt.reason,
            attempt.gaps_after,
            quality,
            attempts,
            figures,
            attempt.thresholds,
            energy=energy,
        ), scores_after
    quality["after"] = quality["before"]
    reason = (
        f"no remedy brought every gated gap within the policy ({'; '.join(over)}); the model "
        "is left as it was, for the gate to refuse. "
        + " ".join(f"{a.method}: {a.reason}." for a in attempts)
    )
    return MitigationOutcome(
        requested,
        NONE,
        reason,
        remedies.gap_rows(gaps, before, None),
        quality,
        attempts,
        passthrough,
    ), None


def _reweigh_outcome(
    policy: Policy,
    fairness: Mapping[str, float],
    data: Rows,
    gaps: list[gated.GatedGap],
    passthrough: dict[str, float],
) -> tuple[MitigationOutcome, Optional[np.ndarray]]:
    """``mitigation: reweigh`` on a model trained reweighed: judged against its reference."""
    at = policy.fairness_threshold
    attempt, _, quality_before = remedies.try_reweigh(gaps, data, at)
    quality = {"before": quality_before, "after": attempt.quality_after}
    if attempt.outcome == "kept":
        figures = _gate_figures(fairness, policy, data, data.scores_eval, attempt.quality_after)
        return MitigationOutcome(
            "reweigh",
            "reweigh",
            attempt.reason,
            attempt.gaps_after,
            quality,
            [attempt],
            figures,
            energy=data.reference_energy,
        ), data.scores_eval
    reason = (
        f"reweighing did not bring every gated gap within the policy: {attempt.reason}; the "
        "reweighed model is left for the gate to refuse"
    )
    return MitigationOutcome(
        "reweigh",
        NONE,
        reason,
        attempt.gaps_after,
        quality,
        [attempt],
        passthrough,
        energy=data.reference_energy,
    ), None


def copy_model(model_path: str, output_dir: str) -> None:
    """Copies a model folder into the step's output folder (whatever it holds)."""
    if not os.path.isdir(model_path):
        raise InputError(f"model folder {model_path} does not exist")
    shutil.rmtree(output_dir, ignore_errors=True)
    shutil.copytree(model_path, output_dir)


def run_mitigate_fairness(
    *,
    model_path: str,
    eval_path: str,
    train_path: str,
    fairness_dir: str,
    fairness_metrics: Mapping[str, Any],
    output_model_dir: str,
    label_column: str,
    positive_label: Any = "1",
    policy_text: str = "",
    trained_model_path: str = "",
) -> MitigationOutcome:
    """Tries the policy's fairness remedy and writes the model that leaves the step.

    Args:
        model_path: The candidate evaluated by the fairness step (compressed or not).
        eval_path: The evaluation data the fairness step read (the gate judges on it).
        train_path: The training data; thresholds are chosen on its validation rows.
        fairness_dir: The fairness step's output folder (``fairness.json``: the slicing).
        fairness_metrics: The fairness step's Metrics metadata.
        output_model_dir: Receives the model that leaves the step: a copy of the
            candidate, with ``group_thresholds.json`` when thresholds were kept.
        label_column: The label column.
        positive_label: The positive class.
        policy_text: The gate's policy (YAML or JSON).
        trained_model_path: ``train_model``'s folder: its metadata says which validation
            rows the trainer carved (defaults when empty).

    Returns:
        The outcome; ``mitigation.json`` is the caller's to write (``record()``).

    Raises:
        InputError: A bad policy, data without the label or a sensitive column, or a
            model folder that is missing.
    """
    policy = parse_policy(policy_text)
    fairness = {
        k: float(v)
        for k, v in fairness_metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    gaps = gated.gated_gaps(policy, fairness)
    data = None
    if gaps and policy.mitigation != NONE:
        settings = read_settings(fairness_dir)
        data = _read_data(
            model_path,
            trained_model_path,
            train_path,
            eval_path,
            label_column,
            positive_label,
            settings,
        )
    outcome, _ = mitigate(policy, fairness, data, gaps)
    copy_model(model_path, output_model_dir)
    if outcome.thresholds:
        spec = group_thresholds.GroupThresholds.from_dict(outcome.thresholds)
        group_thresholds.write(output_model_dir, spec)
    return outcome


def write_record(outcome: MitigationOutcome, path: str) -> None:
    """Writes ``mitigation.json`` (the record) at ``path``."""
    uri_io.write_bytes(path, json.dumps(outcome.record(), indent=2).encode())
