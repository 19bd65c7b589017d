"""KFP component for fairness evaluation. A thin wrapper: the logic lives beside it."""

from typing import Dict, List, Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from greenkfp.components._shared.image import component_image

IMAGE = component_image()


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate_fairness(
    model: Input[Model],
    eval_dataset: Input[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    tfma_output: Output[Artifact],
    report: Output[HTML],
    label_column: str,
    sensitive_features: List[str],
    positive_label: str = "1",
    baseline_model: Optional[Input[Model]] = None,
    feature_buckets: Optional[Dict[str, List[float]]] = None,
    feature_crosses: Optional[List[List[str]]] = None,
    thresholds: Optional[List[float]] = None,
    min_slice_size: int = 20,
    beam_pipeline_args: Optional[List[str]] = None,
    country_iso_code: str = "",
    region: str = "",
    decision: Optional[Input[Artifact]] = None,
):
    """Evaluates quality and fairness by sensitive feature with TFMA and Fairness Indicators.

    Scores the evaluation data with the model as it ships (SavedModel or compressed
    TFLite), slices it by each sensitive feature (numeric ones bucketed) and cross, and
    compares false positive, false negative, positive and true positive rates across the
    slices, with 95% intervals so that a small slice's noise is not taken for bias.

    Args:
        model: The candidate model (from train_model or compress_model).
        eval_dataset: Canonical CSV evaluation data with the label and sensitive columns.
        metrics: auc, accuracy, precision, recall, example_count; every gap and ratio as
            <metric>_gap_<feature>@<threshold> and <metric>_ratio_<feature>@<threshold>;
            max_fairness_gap and other worst values; with a baseline, baseline_<key> and
            delta_<key>; and the energy figures.
        classification_metrics: Confusion matrix (first threshold) and ROC curve.
        tfma_output: TFMA output folders candidate/ and baseline/ (open them with
            tfma.load_eval_result or a Fairness Indicators viewer) and fairness.json with
            every per-slice figure.
        report: Gaps, per-slice charts with intervals, baseline comparison, energy.
        label_column: The label column.
        sensitive_features: Columns to slice on, e.g. ["sex", "age"].
        positive_label: Label value of the positive class ("1", "yes", ">50K", ...).
        baseline_model: A model to compare with (the uncompressed or deployed one).
        feature_buckets: Boundaries of numeric sensitive features, e.g. {"age": [25, 40, 60]}.
        feature_crosses: Crosses of sensitive features, e.g. [["sex", "age"]].
        thresholds: Decision thresholds in (0, 1); default [0.5]. The first is the operating
            threshold of accuracy, precision, recall and the confusion matrix.
        min_slice_size: Slices with fewer examples are reported but left out of the gaps.
        beam_pipeline_args: Beam options for TFMA (runner, workers); empty runs in memory.
        country_iso_code: Grid country (ISO alpha-3) for carbon; empty uses
            GREENKFP_COUNTRY, then USA.
        region: Grid region within the country, optional.
        decision: decide_retraining's decision; when it says not to retrain, the step
            writes "skipped" outputs and returns at once. Not given: the step runs.
    """
    from greenkfp.components._shared.skipping import finish_skipped

    if finish_skipped(decision, metrics, [tfma_output, report], country_iso_code, region):
        return
    from greenkfp.components._shared import binary_metrics
    from greenkfp.components._shared import io as uri_io
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components.fairness.report import render_evaluate_fairness
    from greenkfp.components.fairness.task import run_evaluate_fairness

    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = run_evaluate_fairness(
            model_path=model.path,
            eval_path=eval_dataset.path,
            output_dir=tfma_output.path,
            label_column=label_column,
            sensitive_features=sensitive_features,
            positive_label=positive_label,
            feature_buckets=feature_buckets or {},
            feature_crosses=feature_crosses or [],
            thresholds=thresholds or [0.5],
            min_slice_size=min_slice_size,
            baseline_model_path=baseline_model.path if baseline_model else "",
            beam_pipeline_args=beam_pipeline_args or [],
        )
    uri_io.write_bytes(report.path, render_evaluate_fairness(outcome, energy.to_dict()).encode())
    publish(metrics, energy, tfma_output, outcome.figures, outcome.metadata)
    classification_metrics.log_confusion_matrix(
        binary_metrics.CONFUSION_CATEGORIES, outcome.confusion
    )
    classification_metrics.log_roc_curve(*outcome.roc)
