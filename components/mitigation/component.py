"""KFP component for fairness mitigation. A thin wrapper: the logic lives beside it."""

from typing import Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from greenkfp.components._shared.image import component_image

IMAGE = component_image()


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def mitigate_fairness(
    model: Input[Model],
    eval_dataset: Input[Dataset],
    train_dataset: Input[Dataset],
    fairness_output: Input[Artifact],
    fairness_metrics: Input[Metrics],
    mitigated_model: Output[Model],
    mitigation: Output[Artifact],
    metrics: Output[Metrics],
    report: Output[HTML],
    label_column: str,
    positive_label: str = "1",
    policy: str = "",
    trained_model: Optional[Input[Model]] = None,
    country_iso_code: str = "",
    region: str = "",
    decision: Optional[Input[Artifact]] = None,
):
    """Tries the policy's fairness remedy when a gated gap is over its bound; energy-metered.

    The policy's mitigation key names the remedy: none (default: the model passes on
    unchanged), thresholds (per-group decision thresholds chosen, on the validation
    rows carved from the training data, for equal opportunity or equalized odds as the
    gated gaps ask), reweigh (done at training time: train_model, given the same policy,
    trains the model with reweighing sample weights and an unweighted reference; this
    step judges the model against that reference, before = reference, after = model, and
    keeps reweigh when every gated gap is within the policy; a model trained without it
    gets reweigh refused, with the reason), expgrad (refused, with the reason), or auto
    (thresholds, then reweigh if the model was trained so, then expgrad; the first that
    brings every gated gap within the policy is kept).
    The model that leaves the step is what the gate judges and deploy pushes: with
    thresholds kept, it carries group_thresholds.json, which every prediction applies
    (the sensitive feature is then needed at prediction time).

    Args:
        model: The candidate the fairness step evaluated (compressed or not).
        eval_dataset: The evaluation data the fairness step read.
        train_dataset: The training data (its validation rows choose thresholds).
        fairness_output: evaluate_fairness's tfma_output (fairness.json: the slicing).
        fairness_metrics: evaluate_fairness's metrics (the gaps before).
        mitigated_model: The model that leaves the step: a copy of the candidate, with
            group_thresholds.json when thresholds were kept.
        mitigation: mitigation.json: the method kept (or none), the reason, every gated
            gap before and after with its 95% interval, accuracy and AUC before and after,
            each remedy tried; the same in its metadata.
        metrics: The fairness figures of the model that leaves the step, as the gate
            reads them (auc, accuracy, <metric>_gap_<feature>@<threshold>,
            max_fairness_gap), mitigation_applied, accuracy_cost, auc_cost,
            mitigation_energy_kwh (reweigh: the reference training's energy), and the
            step's energy figures.
        report: The gated gaps before and after, the quality cost, the energy spent.
        label_column: The label column.
        positive_label: Label value of the positive class.
        policy: The gate's policy (YAML or JSON): its max_fairness_gap,
            fairness_threshold and mitigation keys are read.
        trained_model: train_model's model: its metadata names the validation rows the
            trainer carved (defaults when not given); its unweighted_reference/ folder,
            when trained reweighed, is the reference reweigh is judged against.
        country_iso_code: Grid country (ISO alpha-3) for carbon.
        region: Grid region within the country, optional.
        decision: decide_retraining's decision; when it says not to retrain, the step
            writes "skipped" outputs and returns at once. Not given: the step runs.
    """
    from greenkfp.components._shared.skipping import finish_skipped

    outputs = [mitigated_model, mitigation, report]
    if finish_skipped(decision, metrics, outputs, country_iso_code, region):
        return
    from greenkfp.components._shared import io as uri_io
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components.mitigation.report import render_mitigate_fairness
    from greenkfp.components.mitigation.task import run_mitigate_fairness, write_record

    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = run_mitigate_fairness(
            model_path=model.path,
            eval_path=eval_dataset.path,
            train_path=train_dataset.path,
            fairness_dir=fairness_output.path,
            fairness_metrics=dict(fairness_metrics.metadata),
            output_model_dir=mitigated_model.path,
            label_column=label_column,
            positive_label=positive_label,
            policy_text=policy,
            trained_model_path=trained_model.path if trained_model is not None else "",
        )
    write_record(outcome, mitigation.path)
    uri_io.write_bytes(report.path, render_mitigate_fairness(outcome, energy.to_dict()).encode())
    mitigated_model.metadata["mitigation"] = outcome.method
    publish(metrics, energy, mitigation, outcome.figures, outcome.record())
    print(f"mitigation: {outcome.method} ({outcome.reason})")
