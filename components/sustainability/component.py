"""KFP component for the run's sustainability report. A thin wrapper.

The figures come from task.py, the HTML and Markdown from report.py.
"""

from typing import Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Input, Markdown, Metrics, Output

from greenkfp.components._shared.image import component_image

IMAGE = component_image()


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def sustainability_report(
    report: Output[HTML],
    summary: Output[Markdown],
    metrics: Output[Metrics],
    import_metrics: Optional[Input[Metrics]] = None,
    train_statistics_metrics: Optional[Input[Metrics]] = None,
    eval_statistics_metrics: Optional[Input[Metrics]] = None,
    schema_metrics: Optional[Input[Metrics]] = None,
    validation_metrics: Optional[Input[Metrics]] = None,
    training_metrics: Optional[Input[Metrics]] = None,
    compression_metrics: Optional[Input[Metrics]] = None,
    fairness_metrics: Optional[Input[Metrics]] = None,
    gate_metrics: Optional[Input[Metrics]] = None,
    blessing: Optional[Input[Artifact]] = None,
    deployment_metrics: Optional[Input[Metrics]] = None,
    deployment: Optional[Input[Artifact]] = None,
    embodied_g_co2eq_per_1k: float = -1.0,
    country_iso_code: str = "",
    region: str = "",
    decision: Optional[Input[Artifact]] = None,
    mitigation_metrics: Optional[Input[Metrics]] = None,
    mitigation: Optional[Input[Artifact]] = None,
):
    """Gathers every step's energy, carbon, quality and decisions into one report.

    Energy and emissions per step and in total, the carbon intensity and method, the
    model before and after compression, fairness gaps per feature, every gate check,
    the deployment outcome, the deployed model's feature attributions (global and per
    sensitive slice, from its registry version), and the Software Carbon Intensity of
    serving per 1,000 predictions. A step whose input is not given is shown as not run.

    Args:
        report: Self-contained HTML (inline CSS and SVG, nothing from the network); its
            metadata holds every figure under "sustainability".
        summary: The same in short Markdown; its metadata holds the same figures.
        metrics: energy_kwh_total, emissions_kg_co2eq_total, steps_reported, approved,
            deployed, deployed_version, size_ratio, latency_speedup, worst_fairness_gap,
            sci_g_co2eq_per_1k_predictions (each when its input is given), and this step's
            own energy figures (energy_kwh, ...).
        import_metrics: Metrics of import_csv.
        train_statistics_metrics: Metrics of generate_statistics on the train split.
        eval_statistics_metrics: Metrics of generate_statistics on the eval split.
        schema_metrics: Metrics of infer_schema.
        validation_metrics: Metrics of validate_data.
        training_metrics: Metrics of train_model.
        compression_metrics: Metrics of compress_model (before/after, inference energy).
        fairness_metrics: Metrics of evaluate_fairness (gaps per feature).
        gate_metrics: Metrics of evaluate_gate.
        blessing: The gate's blessing (approved, reasons, checks).
        deployment_metrics: Metrics of deploy_model.
        deployment: deploy_model's deployment record (deployed, version, pushed_uri).
        embodied_g_co2eq_per_1k: Embodied emissions of the serving hardware per 1,000
            predictions, g CO2eq; negative means not given (the SCI then says so).
        country_iso_code: Grid country (ISO alpha-3) for this step's own carbon; empty
            uses GREENKFP_COUNTRY, then USA.
        region: Grid region within the country, optional.
        decision: decide_retraining's decision; when it says not to retrain, the step
            writes "skipped" outputs and returns at once. Not given: the step runs.
        mitigation_metrics: Metrics of mitigate_fairness.
        mitigation: mitigate_fairness's record (each gated gap before and after, the
            accuracy and AUC cost); shown as the report's fairness mitigation section.
    """
    from greenkfp.components._shared.skipping import finish_skipped

    if finish_skipped(decision, metrics, [report, summary], country_iso_code, region):
        return
    from greenkfp.components._shared import io as uri_io
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components.sustainability.report import render_sustainability_report
    from greenkfp.components.sustainability.summary import render_sustainability_summary
    from greenkfp.components.sustainability.task import (
        read_attributions,
        read_record,
        run_sustainability_report,
    )

    steps = {
        "import": import_metrics,
        "train_statistics": train_statistics_metrics,
        "eval_statistics": eval_statistics_metrics,
        "schema": schema_metrics,
        "validation": validation_metrics,
        "training": training_metrics,
        "compression": compression_metrics,
        "fairness": fairness_metrics,
        "mitigation": mitigation_metrics,
        "gate": gate_metrics,
        "deployment": deployment_metrics,
    }
    step_metrics = {name: dict(a.metadata) if a is not None else None for name, a in steps.items()}
    gate_record = read_record(blessing.metadata, blessing.path, "approved") if blessing else None
    deploy_record = (
        read_record(deployment.metadata, deployment.path, "deployed") if deployment else None
    )
    mitigation_record = (
        read_record(mitigation.metadata, mitigation.path, "mitigation") if mitigation else None
    )
    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = run_sustainability_report(
            step_metrics=step_metrics,
            blessing=gate_record,
            deployment=deploy_record,
            embodied_g_co2eq_per_1k=embodied_g_co2eq_per_1k,
            attributions=read_attributions(deploy_record),
            mitigation=mitigation_record,
        )
    uri_io.write_bytes(
        report.path, render_sustainability_report(outcome, energy.to_dict()).encode()
    )
    uri_io.write_bytes(summary.path, render_sustainability_summary(outcome).encode())
    summary.metadata.update(outcome.metadata)
    publish(metrics, energy, report, outcome.figures, outcome.metadata)
    print(
        f"sustainability: {outcome.energy_kwh_total:.6g} kWh, "
        f"{outcome.emissions_kg_co2eq_total:.6g} kg CO2eq over the steps given"
    )
