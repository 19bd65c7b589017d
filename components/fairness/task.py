"""What the ``evaluate_fairness`` component does, as plain functions over files and frames.

:func:`run_evaluate_fairness` scores the evaluation data with the shipped model (and a
baseline) through the library's one predict function, and :func:`evaluate_scores`
evaluates given scores: TFMA with Fairness Indicators per slice, then the gaps between
slices, their intervals and the change from the baseline. Both return a
:class:`FairnessOutcome`; :func:`run_evaluate_fairness` also writes ``fairness.json``
(every per-slice figure) next to TFMA's output folders, for later steps and readers.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from greenkfp.components._shared import binary_metrics
from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.fairness_record import FAIRNESS_JSON
from greenkfp.components._shared.labels import encode_label
from greenkfp.components.fairness.gaps import (
    OVERALL,
    Gap,
    SliceResult,
    baseline_metrics,
    change_statements,
    compute_gaps,
    gap_metrics,
    quality_metrics,
)
from greenkfp.components.fairness.slicing import (
    DEFAULT_MIN_SLICE_SIZE,
    SliceSettings,
    slice_columns,
    value_order,
)

CANDIDATE_DIR = "candidate"
BASELINE_DIR = "baseline"
"""Sub-folders of the output folder holding TFMA's output of each model."""

SCHEMA_VERSION = 1


@dataclass
class ModelEvaluation:
    """One model's fairness evaluation.

    Attributes:
        slices: Every slice, overall first.
        gaps: Every gap (see :func:`~greenkfp.components.fairness.gaps.compute_gaps`).
        metrics: Overall quality and gap figures, as the Metrics output names them.
        tfma_dir: TFMA's output folder for this model.
    """

    slices: list[SliceResult]
    gaps: list[Gap]
    metrics: dict[str, float]
    tfma_dir: str

    @property
    def overall(self) -> SliceResult:
        """The slice of all rows."""
        return next(s for s in self.slices if s.group == OVERALL)

    def to_dict(self) -> dict[str, Any]:
        """Returns the evaluation as JSON-friendly values."""
        return {
            "tfma_dir": self.tfma_dir,
            "metrics": dict(self.metrics),
            "slices": [s.to_dict() for s in self.slices],
            "gaps": [g.to_dict() for g in self.gaps],
        }


@dataclass
class FairnessOutcome:
    """Everything the component outputs, for the candidate and the optional baseline.

    Attributes:
        settings: The slicing and thresholds used.
        label_column: The label column.
        positive_label: The positive class.
        candidate: The candidate model's evaluation.
        baseline: The baseline's, or None.
        figures: The candidate's metrics plus ``baseline_<key>`` and ``delta_<key>``, for
            the step's Metrics.
        changes: Sentences on how the gaps moved from the baseline, largest first.
        confusion: ``[[TN, FP], [FN, TP]]`` of the candidate at the operating threshold.
        roc: ``(fpr, tpr, thresholds)`` of the candidate.
        excluded: Slices left out of some gap, with the reason, by slice name.
        metadata: Facts for the output artifact's metadata.
    """

    settings: SliceSettings
    label_column: str
    positive_label: str
    candidate: ModelEvaluation
    baseline: Optional[ModelEvaluation]
    figures: dict[str, float]
    changes: list[str]
    confusion: list[list[int]]
    roc: tuple[list[float], list[float], list[float]]
    excluded: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Returns the content of ``fairness.json``."""
        return {
            "schema_version": SCHEMA_VERSION,
            "label_column": self.label_column,
            "positive_label": self.positive_label,
            "settings": self.settings.to_dict(),
            "prediction_rule": "predicted positive when score > threshold (as TFMA counts)",
            "interval": "95% Wilson score per rate; Newcombe hybrid score for a gap",
            "metrics": dict(self.figures),
            "changes": list(self.changes),
            "excluded": dict(self.excluded),
            "candidate": self.candidate.to_dict(),
            "baseline": self.baseline.to_dict() if self.baseline else None,
        }


def _check_scores(scores: Any, n_rows: int, what: str) -> np.ndarray:
    p = np.asarray(scores, dtype=np.float64).reshape(-1)
    if p.size != n_rows:
        raise InputError(f"{what} has {p.size} scores for {n_rows} rows")
    bad = ~np.isfinite(p) | (p < 0.0) | (p > 1.0)
    if bad.any():
        raise InputError(
            f"{what} must be probabilities in [0, 1]; {int(bad.sum())} are not "
            f"(e.g. {p[bad][:3].tolist()})"
        )
    return p


def _labels_and_slices(
    df: pd.DataFrame, label_column: str, positive_label: Any, settings: SliceSettings
) -> tuple[np.ndarray, pd.DataFrame]:
    """Returns the 0/1 labels and the slice columns, or raises naming what is wrong."""
    if len(df) == 0:
        raise InputError("the evaluation data has no rows")
    if label_column not in df.columns:
        raise InputError(
            f"label column {label_column!r} not found in the evaluation data; "
            f"columns: {list(df.columns)}"
        )
    labels = encode_label(df[label_column], positive_label)
    return labels, slice_columns(df, settings, label_column)


def _finite(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def _evaluate_model(
    labels: np.ndarray,
    scores: np.ndarray,
    slices: pd.DataFrame,
    settings: SliceSettings,
    tfma_dir: str,
    beam_pipeline_args: Sequence[str],
) -> ModelEvaluation:
    from greenkfp.components.fairness import tfma_eval

    frame = tfma_eval.eval_frame(labels, scores, slices)
    result = tfma_eval.run(frame, tfma_eval.eval_config(settings), tfma_dir, beam_pipeline_args)
    slice_results = tfma_eval.read_slices(result, settings, value_order(slices, settings))
    gaps = compute_gaps(slice_results, settings)
    overall = next(s for s in slice_results if s.group == OVERALL)
    metrics = _finite({**quality_metrics(overall), **gap_metrics(gaps)})
    return ModelEvaluation(slice_results, gaps, metrics, tfma_dir)


def _exclusions(evaluation: ModelEvaluation, min_slice_size: int) -> dict[str, str]:
    """Every slice left out of some gap, with its reasons joined by ``; ``."""
    excluded: dict[str, str] = {}
    for g in evaluation.gaps:
        for name, reason in g.excluded.items():
            known = excluded.get(name)
            if known is None:
                excluded[name] = reason
            elif reason not in known.split("; "):
                excluded[name] = f"{known}; {reason}"
    for s in evaluation.slices:  # also those of groups that got no gap at all
        if s.group != OVERALL and s.example_count < min_slice_size:
            excluded.setdefault(
                s.name, f"{s.example_count} examples, below min_slice_size {min_slice_size}"
            )
    return excluded


def evaluate_scores(
    df: pd.DataFrame,
    scores: Any,
    label_column: str,
    positive_label: Any,
    settings: SliceSettings,
    output_dir: str,
    baseline_scores: Any = None,
    beam_pipeline_args: Sequence[str] = (),
) -> FairnessOutcome:
    """Evaluates given scores of the rows of ``df``, slice by slice.

    Args:
        df: Evaluation rows: the label and the sensitive columns.
        scores: The candidate's probability of the positive class, one per row.
        label_column: The label column.
        positive_label: The positive class (``1``, ``"yes"``, ...).
        settings: Slicing, thresholds and ``min_slice_size``.
        output_dir: Receives TFMA's output: ``candidate/`` and ``baseline/``.
        baseline_scores: The baseline's scores of the same rows, or None.
        beam_pipeline_args: Beam options for TFMA (see ``tfma_eval.run``).

    Returns:
        The outcome; nothing is written besides TFMA's folders.

    Raises:
        InputError: No rows, a missing or non-binary label, a missing or single-valued
            sensitive column, or scores that are not probabilities.
    """
    labels, slices = _labels_and_slices(df, label_column, positive_label, settings)
    candidate_scores = _check_scores(scores, len(df), "the candidate's scores")
    base_scores = None
    if baseline_scores is not None:
        base_scores = _check_scores(baseline_scores, len(df), "the baseline's scores")

    args = list(beam_pipeline_args or [])
    candidate = _evaluate_model(
        labels, candidate_scores, slices, settings, os.path.join(output_dir, CANDIDATE_DIR), args
    )
    figures = dict(candidate.metrics)
    baseline, changes = None, []
    if base_scores is not None:
        baseline = _evaluate_model(
            labels, base_scores, slices, settings, os.path.join(output_dir, BASELINE_DIR), args
        )
        figures.update(_finite(baseline_metrics(figures, baseline.metrics, candidate.gaps)))
        changes = change_statements(candidate.gaps, baseline.gaps)

    # TFMA predicts positive when score > threshold; the >= rule of the shared confusion
    # matrix gives the same counts one float step above the threshold.
    operating = float(np.nextafter(settings.thresholds[0], np.inf))
    positive = str(positive_label)
    metadata = {
        "label_column": label_column,
        "positive_label": positive,
        **{k: v for k, v in settings.to_dict().items() if k != "feature_buckets"},
        "feature_buckets": json.dumps(settings.to_dict()["feature_buckets"]),
        "candidate_eval_result": CANDIDATE_DIR,
        "baseline_eval_result": BASELINE_DIR if baseline else "",
        "fairness_json": FAIRNESS_JSON,
        "significant_gaps": [g.gap_key for g in candidate.gaps if g.significant],
    }
    return FairnessOutcome(
        settings=settings,
        label_column=label_column,
        positive_label=positive,
        candidate=candidate,
        baseline=baseline,
        figures=figures,
        changes=changes,
        confusion=binary_metrics.confusion_matrix(labels, candidate_scores, operating),
        roc=binary_metrics.roc_curve(labels, candidate_scores),
        excluded=_exclusions(candidate, settings.min_slice_size),
        metadata=metadata,
    )


def run_evaluate_fairness(
    *,
    model_path: str,
    eval_path: str,
    output_dir: str,
    label_column: str,
    sensitive_features: Sequence[str],
    positive_label: Any = "1",
    feature_buckets: Optional[Mapping[str, Sequence[float]]] = None,
    feature_crosses: Optional[Sequence[Sequence[str]]] = None,
    thresholds: Optional[Sequence[float]] = None,
    min_slice_size: int = DEFAULT_MIN_SLICE_SIZE,
    baseline_model_path: str = "",
    beam_pipeline_args: Sequence[str] = (),
) -> FairnessOutcome:
    """Scores the evaluation data with the model(s) and evaluates fairness by slice.

    Predictions come from
    :func:`greenkfp.components._shared.predictor.load_predictor`, so a ``train_model``
    folder (SavedModel) and a ``compress_model`` folder (TFLite) are scored the way they
    ship.

    Args:
        model_path: The candidate model folder.
        eval_path: Canonical CSV evaluation data.
        output_dir: Receives ``candidate/`` (TFMA output), ``baseline/`` and
            ``fairness.json``.
        label_column: The label column.
        sensitive_features: Columns to slice on.
        positive_label: The positive class.
        feature_buckets: Boundaries of numeric sensitive features, e.g.
            ``{"age": [25, 40, 60]}``.
        feature_crosses: Crosses of sensitive features, e.g. ``[["sex", "age"]]``.
        thresholds: Decision thresholds in (0, 1); default ``[0.5]``.
        min_slice_size: Smaller slices are reported but left out of the gaps.
        baseline_model_path: A baseline model folder, or ``""`` for none.
        beam_pipeline_args: Beam options for TFMA.

    Returns:
        The outcome (see :func:`evaluate_scores`).

    Raises:
        InputError: Bad parameters or data (checked before any model is loaded), or a
            folder that holds no model this library wrote.
    """
    from greenkfp.components._shared.predictor import load_predictor

    settings = SliceSettings.create(
        sensitive_features, feature_buckets, feature_crosses, thresholds, min_slice_size
    )
    df = uri_io.read_dataset(eval_path)
    _labels_and_slices(df, label_column, positive_label, settings)  # fail before loading models
    scores = load_predictor(model_path)(df)
    baseline_scores = load_predictor(baseline_model_path)(df) if baseline_model_path else None
    uri_io.makedirs(output_dir)
    outcome = evaluate_scores(
        df,
        scores,
        label_column,
        positive_label,
        settings,
        output_dir,
        baseline_scores=baseline_scores,
        beam_pipeline_args=beam_pipeline_args,
    )
    _write_results(outcome, output_dir)
    return outcome


def _write_results(outcome: FairnessOutcome, output_dir: str) -> str:
    """Writes ``fairness.json`` into ``output_dir`` and returns its path."""
    path = os.path.join(output_dir, FAIRNESS_JSON)
    with uri_io.open_uri(path, "w") as f:
        json.dump(outcome.to_dict(), f, indent=2, sort_keys=False)
    return path


def read_results(output_dir: str) -> dict[str, Any]:
    """Reads the ``fairness.json`` that :func:`run_evaluate_fairness` wrote into ``output_dir``."""
    return json.loads(uri_io.read_bytes(os.path.join(output_dir, FAIRNESS_JSON)))
