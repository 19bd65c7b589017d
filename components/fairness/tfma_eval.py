"""Runs TFMA with Fairness Indicators on labels, scores and slice columns, and reads it back.

The evaluation goes through ``tfma.analyze_raw_data`` (a DataFrame of labels and
predictions, no model signature). With Beam pipeline arguments (another runner, more
workers) the same TFMA transform runs in a pipeline built with those options, the rows
split into record batches so that workers can share them. TFMA writes its usual output
folder (``eval_config.json``, metrics and plots), which ``tfma.load_eval_result`` and
the Fairness Indicators viewers open.

TFMA counts a row as predicted positive when its score is *greater than* the threshold.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

import pandas as pd

from greenkfp.components._shared import progress
from greenkfp.components._shared.beam_options import beam_options
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.tf_setup import ensure_legacy_keras
from greenkfp.components.fairness.gaps import (
    GAP_METRICS,
    OVERALL,
    RateValue,
    SliceResult,
    rates_from_counts,
)
from greenkfp.components.fairness.slicing import SliceSettings, threshold_label

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow_model_analysis as tfma

LABEL_KEY = "__label__"
PREDICTION_KEY = "__prediction__"
FAIRNESS_MODULE = "fairness_indicators.fairness_indicators_metrics"
FAIRNESS_METRIC_NAME = "fairness_indicators_metrics"
CONFUSION_METRIC_NAME = "confusion_matrix_at_thresholds"
RECORD_BATCH_ROWS = 10_000
"""Rows per Arrow record batch when a pipeline is built with Beam arguments."""

# TFMA metric name -> name in our results.
_QUALITY_NAMES = {
    "auc": "auc",
    "binary_accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
}


def eval_config(settings: SliceSettings) -> tfma.EvalConfig:
    """Builds the EvalConfig: overall, per feature and per cross slices; the metrics.

    Metrics: ``ExampleCount``, ``AUC``, and at the operating threshold (the first one)
    ``BinaryAccuracy``, ``Precision``, ``Recall``; at every threshold
    ``ConfusionMatrixAtThresholds`` (the counts behind the intervals) and
    ``FairnessIndicators``.
    """
    ensure_legacy_keras()  # TFMA imports TensorFlow
    import tensorflow_model_analysis as tfma

    thresholds = list(settings.thresholds)
    operating = thresholds[0]
    metrics = [
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="AUC"),
        tfma.MetricConfig(class_name="BinaryAccuracy", config=json.dumps({"threshold": operating})),
        tfma.MetricConfig(class_name="Precision", config=json.dumps({"thresholds": [operating]})),
        tfma.MetricConfig(class_name="Recall", config=json.dumps({"thresholds": [operating]})),
        tfma.MetricConfig(
            class_name="ConfusionMatrixAtThresholds",
            config=json.dumps({"thresholds": thresholds}),
        ),
        tfma.MetricConfig(
            class_name="FairnessIndicators",
            module=FAIRNESS_MODULE,
            config=json.dumps({"thresholds": thresholds}),
        ),
    ]
    slicing = [tfma.SlicingSpec()]
    slicing += [tfma.SlicingSpec(feature_keys=list(features)) for _, features in settings.groups()]
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key=LABEL_KEY, prediction_key=PREDICTION_KEY)],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        slicing_specs=slicing,
    )


def eval_frame(labels: Any, scores: Any, slices: pd.DataFrame) -> pd.DataFrame:
    """Returns the frame TFMA reads: label (0.0/1.0), prediction (float64), slice columns."""
    frame = slices.reset_index(drop=True).copy()
    frame[LABEL_KEY] = pd.Series(labels, dtype="float64").to_numpy()
    frame[PREDICTION_KEY] = pd.Series(scores, dtype="float64").to_numpy()
    return frame


def run(
    frame: pd.DataFrame,
    config: tfma.EvalConfig,
    output_path: str,
    beam_pipeline_args: Sequence[str] = (),
) -> tfma.EvalResult:
    """Runs TFMA over ``frame`` and writes its output folder at ``output_path``.

    Args:
        frame: From :func:`eval_frame`.
        config: From :func:`eval_config`.
        output_path: The folder TFMA writes (local path or ``gs://`` URI).
        beam_pipeline_args: Beam pipeline options, e.g. ``["--runner=DataflowRunner",
            "--project=...", ...]`` or ``["--direct_num_workers=4",
            "--direct_running_mode=multi_processing"]``; without ``--runner``, Beam's
            DirectRunner (see :func:`beam_options`).

    Returns:
        TFMA's ``EvalResult``, loaded back from ``output_path``.
    """
    import numpy as np

    # TFMA divides by zero for slices without predicted positives (precision, FDR): it
    # records NaN, which is what we want, without a RuntimeWarning per slice.
    with np.errstate(divide="ignore", invalid="ignore"):
        options = " ".join(beam_options(beam_pipeline_args))
        with progress.timed("TFMA fairness evaluation", f"{len(frame):,} rows, {options}"):
            return _run(frame, config, output_path, beam_pipeline_args)


def _run(
    frame: pd.DataFrame,
    config: tfma.EvalConfig,
    output_path: str,
    beam_pipeline_args: Sequence[str],
) -> tfma.EvalResult:
    ensure_legacy_keras()  # TFMA imports TensorFlow
    import apache_beam as beam
    import pyarrow as pa
    import tensorflow_model_analysis as tfma
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx_bsl.arrow import table_util

    batches = [
        table_util.CanonicalizeRecordBatch(
            pa.RecordBatch.from_pandas(frame.iloc[i : i + RECORD_BATCH_ROWS], preserve_index=False)
        )
        for i in range(0, len(frame), RECORD_BATCH_ROWS)
    ]
    with beam.Pipeline(options=PipelineOptions(beam_options(beam_pipeline_args))) as pipeline:
        _ = (
            pipeline
            | "RecordBatches" >> beam.Create(batches, reshuffle=False)
            | "ExtractEvaluateAndWriteResults"
            >> tfma.ExtractEvaluateAndWriteResults(eval_config=config, output_path=output_path)
        )
    return tfma.load_eval_result(output_path)


def fairness_metric_names(thresholds: Sequence[float]) -> dict[str, dict[str, str]]:
    """Names FairnessIndicators gives its metrics, per threshold label and metric.

    FairnessIndicators prints every threshold with as many decimals as the longest one
    needs (``0.5`` alone, ``0.50`` next to ``0.25``).

    Raises:
        InputError: Two thresholds print the same in those names.
    """
    from fairness_indicators.fairness_indicators_metrics import calculate_digits

    digits = calculate_digits(list(thresholds))
    names = {}
    for t in thresholds:
        printed = f"{t:.{digits}f}"  # as FairnessIndicators prints it
        names[threshold_label(t)] = {
            m: f"{FAIRNESS_METRIC_NAME}/{m}@{printed}" for m in GAP_METRICS
        }
    printed_all = [next(iter(v.values())) for v in names.values()]
    if len(set(printed_all)) != len(printed_all):
        raise InputError(
            f"thresholds {list(thresholds)} are too close for TFMA's metric names to tell "
            "them apart"
        )
    return names


def _number(value: Any) -> float:
    if isinstance(value, dict):
        if "doubleValue" in value:
            return float(value["doubleValue"])
        if "boundedValue" in value:
            return float(value["boundedValue"].get("value", math.nan))
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _matrix_counts(value: Any, thresholds: Sequence[float]) -> dict[str, dict[str, float]]:
    matrices = (value or {}).get("confusionMatrixAtThresholds", {}).get("matrices", [])
    out = {}
    for t in thresholds:
        match = [m for m in matrices if abs(float(m.get("threshold", 0.0)) - t) < 1e-6]
        if not match:
            raise RuntimeError(f"TFMA returned no confusion matrix at threshold {t}")
        m = match[0]
        out[threshold_label(t)] = {
            "tp": float(m.get("truePositives", 0.0)),
            "fp": float(m.get("falsePositives", 0.0)),
            "tn": float(m.get("trueNegatives", 0.0)),
            "fn": float(m.get("falseNegatives", 0.0)),
        }
    return out


def _slice_values(slice_key: Any) -> dict[str, str]:
    values = {}
    for name, value in slice_key or ():
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        values[str(name)] = str(value)
    return values


def read_slices(
    result: tfma.EvalResult,
    settings: SliceSettings,
    value_order: Optional[Mapping[str, Sequence[str]]] = None,
) -> list[SliceResult]:
    """Turns TFMA's per-slice metrics into :class:`SliceResult`s.

    Rates come from FairnessIndicators, their intervals from the confusion counts at the
    same threshold (the two agree: both count TFMA's confusion matrices).

    Args:
        result: TFMA's result of a run with :func:`eval_config`.
        settings: The settings the run used.
        value_order: Display order of each feature's values (``slicing.value_order``);
            values not listed sort last, alphabetically.

    Returns:
        The overall slice first, then each group's slices in ``value_order``.
    """
    names = fairness_metric_names(settings.thresholds)
    groups = {frozenset(features): (group, features) for group, features in settings.groups()}
    out = []
    for slice_key, by_output in result.slicing_metrics:
        values = _slice_values(slice_key)
        if values:
            if frozenset(values) not in groups:
                continue
            group, features = groups[frozenset(values)]
            values = {f: values[f] for f in features}
        else:
            group = OVERALL
        metrics = by_output.get("", {}).get("", {})
        counts = _matrix_counts(metrics.get(CONFUSION_METRIC_NAME), settings.thresholds)
        rates: dict[str, dict[str, RateValue]] = {}
        for label, c in counts.items():
            rates[label] = rates_from_counts(c["tp"], c["fp"], c["tn"], c["fn"])
            for metric, rate in rates[label].items():
                reported = _number(metrics.get(names[label][metric]))
                if math.isfinite(reported):
                    rate.value = reported
        quality = {
            ours: _number(metrics[theirs])
            for theirs, ours in _QUALITY_NAMES.items()
            if theirs in metrics
        }
        out.append(
            SliceResult(
                group=group,
                values=values,
                example_count=int(round(_number(metrics.get("example_count")))),
                quality=quality,
                counts=counts,
                rates=rates,
            )
        )
    group_rank = {OVERALL: -1, **{g: i for i, (g, _) in enumerate(settings.groups())}}
    ranks = {f: {v: i for i, v in enumerate(vs)} for f, vs in (value_order or {}).items()}

    def sort_key(s: SliceResult) -> tuple:
        place = [(ranks.get(f, {}).get(v, len(ranks.get(f, {}))), v) for f, v in s.values.items()]
        return (group_rank[s.group], place)

    return sorted(out, key=sort_key)
