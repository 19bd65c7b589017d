"""KFP components for the deployment gate and the push to a model registry. Thin wrappers."""

from typing import NamedTuple, Optional

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from greenkfp.components._shared.image import component_image

IMAGE = component_image()


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate_gate(
    blessing: Output[Artifact],
    summary: Output[Markdown],
    metrics: Output[Metrics],
    policy: str = "",
    training_metrics: Optional[Input[Metrics]] = None,
    compression_metrics: Optional[Input[Metrics]] = None,
    fairness_metrics: Optional[Input[Metrics]] = None,
    registry_uri: str = "",
    model_name: str = "",
    country_iso_code: str = "",
    region: str = "",
    decision: Optional[Input[Artifact]] = None,
) -> NamedTuple("Outputs", [("approved", bool)]):
    """Checks a candidate model against a policy and blesses it, or not.

    Quality checks read fairness metrics (the shipped candidate evaluated), else
    compression's compressed_* figures, else training's; size, latency and inference
    energy read compression's; emissions read training's. A check whose metric no input
    has fails the step. With a registry, the candidate is compared with the live model's
    recorded metrics (champion/challenger).

    Args:
        blessing: JSON record: approved, reasons, every check (value, threshold,
            verdict), the effective policy, the metrics read; the same in its metadata.
        summary: The decision and every check, for a reviewer.
        metrics: approved (1/0), checks_passed, checks_failed, and the energy figures.
        policy: YAML or JSON policy (see the README); empty uses the defaults.
        training_metrics: Metrics of train_model.
        compression_metrics: Metrics of compress_model.
        fairness_metrics: Metrics of the fairness evaluation of the candidate, or of
            mitigate_fairness (the fairness figures of the model that leaves it).
        registry_uri: Model registry base URI; empty skips champion/challenger.
        model_name: The model's name in the registry.
        country_iso_code: Grid country (ISO alpha-3) for carbon; empty uses
            GREENKFP_COUNTRY, then USA.
        region: Grid region within the country, optional.
        decision: decide_retraining's decision; when it says not to retrain, the step
            writes "skipped" outputs and returns at once. Not given: the step runs.

    Returns:
        approved: Whether every check passed.
    """
    from collections import namedtuple

    from greenkfp.components._shared.skipping import finish_skipped

    if finish_skipped(decision, metrics, [blessing, summary], country_iso_code, region):
        return namedtuple("Outputs", ["approved"])(False)

    from greenkfp.components._shared import io as uri_io
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components.deployment.gate_task import run_evaluate_gate
    from greenkfp.components.deployment.report import render_evaluate_gate

    inputs = {
        name: (artifact.uri, dict(artifact.metadata)) if artifact is not None else None
        for name, artifact in [
            ("training", training_metrics),
            ("compression", compression_metrics),
            ("fairness", fairness_metrics),
        ]
    }
    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = run_evaluate_gate(
            policy_text=policy, inputs=inputs, registry_uri=registry_uri, model_name=model_name
        )
    uri_io.write_bytes(summary.path, render_evaluate_gate(outcome, energy.to_dict()).encode())
    uri_io.write_bytes(blessing.path, outcome.record().to_json().encode())
    publish(metrics, energy, blessing, outcome.figures, outcome.metadata)
    print(f"gate: {'APPROVED' if outcome.approved else 'REFUSED'}; " + "; ".join(outcome.reasons))
    return namedtuple("Outputs", ["approved"])(bool(outcome.approved))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def deploy_model(
    model: Input[Model],
    blessing: Input[Artifact],
    eval_dataset: Input[Dataset],
    deployment: Output[Artifact],
    inference_service: Output[Artifact],
    summary: Output[Markdown],
    metrics: Output[Metrics],
    model_name: str,
    registry_uri: str = "",
    canary_rows: int = 32,
    canary_tolerance: float = 1e-5,
    intended_use: str = "",
    namespace: str = "",
    pin_version: bool = True,
    apply: bool = False,
    country_iso_code: str = "",
    region: str = "",
    train_statistics: Optional[Input[Artifact]] = None,
    schema: Optional[Input[Artifact]] = None,
    train_dataset: Optional[Input[Dataset]] = None,
    import_metrics: Optional[Input[Metrics]] = None,
    train_statistics_metrics: Optional[Input[Metrics]] = None,
    eval_statistics_metrics: Optional[Input[Metrics]] = None,
    schema_metrics: Optional[Input[Metrics]] = None,
    validation_metrics: Optional[Input[Metrics]] = None,
    decision_metrics: Optional[Input[Metrics]] = None,
    training_metrics: Optional[Input[Metrics]] = None,
    compression_metrics: Optional[Input[Metrics]] = None,
    fairness_metrics: Optional[Input[Metrics]] = None,
    gate_metrics: Optional[Input[Metrics]] = None,
    decision: Optional[Input[Artifact]] = None,
    trained_model: Optional[Input[Model]] = None,
    mitigation_metrics: Optional[Input[Metrics]] = None,
) -> NamedTuple("Outputs", [("deployed", bool), ("version", int), ("pushed_uri", str)]):
    """Pushes a blessed model to a versioned registry, verified, and makes it live.

    TFX Pusher semantics: a model the gate did not bless is not pushed (nothing is
    written) and the outputs say why. A blessed one is written to
    <registry_uri>/<model_name>/<version>/ (the judged artifact, named in serving.json:
    a compressed model's TFLite pair, or a trained model's SavedModel at the root as TF
    Serving reads it; blessing, metrics, model card), verified by loading it and
    comparing canary predictions on eval rows with the candidate's, published
    atomically, and only then made LIVE. The version also keeps what a later run judges
    new data against (decide_retraining): the training statistics, schema, a seeded
    sample of the training data's numeric features, and the energy each given upstream
    step spent (pipeline_energy.json).

    Args:
        model: The candidate (train_model, compress_model or mitigate_fairness output;
            a group_thresholds.json in it travels into the version and is applied).
        blessing: The gate's blessing.
        eval_dataset: Eval data; its first canary_rows rows are the canary inputs.
        deployment: JSON record: deployed, version, pushed_uri, live, reasons, canary.
        inference_service: KServe InferenceService YAML for the pushed version.
        summary: What was pushed, or why not, for a reviewer.
        metrics: deployed (1/0), version, live (1/0), canary figures, energy figures.
        model_name: Name in the registry and of the InferenceService (DNS-1035 label).
        registry_uri: Registry base URI: a local folder or gs://bucket/path. Empty pushes
            to a registry inside this step's own output (for trying out: each run then
            starts an empty registry).
        canary_rows: Eval rows scored by the candidate and by the pushed copy.
        canary_tolerance: Largest allowed absolute score difference.
        intended_use: The model card's intended use; empty gives a generic statement.
        namespace: InferenceService namespace; empty: the pod's namespace when applied.
        pin_version: Serve exactly the pushed version (KServe >= 0.16 storageUris);
            false points KServe at the model root (highest version).
        apply: Create or patch the InferenceService in the cluster this task runs in;
            outside a cluster the step fails before writing anything.
        country_iso_code: Grid country (ISO alpha-3) for carbon.
        region: Grid region within the country, optional.
        train_statistics: TFDV statistics of the training data, kept in the version.
        schema: The TFDV schema, kept in the version.
        train_dataset: Training data; up to 5,000 rows of its numeric features are kept
            as the drift reference.
        import_metrics: Metrics of import_csv (its energy goes to pipeline_energy.json).
        train_statistics_metrics: Metrics of the training data's statistics.
        eval_statistics_metrics: Metrics of the eval data's statistics.
        schema_metrics: Metrics of infer_schema.
        validation_metrics: Metrics of validate_data.
        decision_metrics: Metrics of decide_retraining.
        training_metrics: Metrics of train_model.
        compression_metrics: Metrics of compress_model.
        fairness_metrics: Metrics of evaluate_fairness.
        gate_metrics: Metrics of evaluate_gate.
        decision: decide_retraining's decision; when it says not to retrain, the step
            writes "skipped" outputs and returns at once.
        trained_model: train_model's model, when model is a compressed one: only its
            metadata is read (the training step's hardware and grid, for the cards'
            hardware_used and geographical_location); it is not pushed. Not given:
            the cards say "not recorded".
        mitigation_metrics: Metrics of mitigate_fairness (its energy too goes to
            pipeline_energy.json).

    Returns:
        deployed: Whether a version was pushed.
        version: The pushed version (0 when none).
        pushed_uri: The pushed version's URI ("" when none).
    """
    import os
    from collections import namedtuple

    from greenkfp.components._shared import io as uri_io
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components._shared.skipping import finish_skipped
    from greenkfp.components.deployment.deploy_task import TrainingRecord, run_deploy_model
    from greenkfp.components.deployment.report import (
        render_deploy_model,
        render_inference_service,
    )

    Outputs = namedtuple("Outputs", ["deployed", "version", "pushed_uri"])
    outputs = [deployment, inference_service, summary]
    if finish_skipped(decision, metrics, outputs, country_iso_code, region):
        return Outputs(False, 0, "")
    upstream = {
        "import_csv": import_metrics,
        "statistics_train": train_statistics_metrics,
        "statistics_eval": eval_statistics_metrics,
        "infer_schema": schema_metrics,
        "validate_data": validation_metrics,
        "decide_retraining": decision_metrics,
        "train_model": training_metrics,
        "compress_model": compression_metrics,
        "evaluate_fairness": fairness_metrics,
        "mitigate_fairness": mitigation_metrics,
        "evaluate_gate": gate_metrics,
    }
    training = TrainingRecord(
        statistics_path=train_statistics.path if train_statistics is not None else "",
        schema_path=schema.path if schema is not None else "",
        train_dataset_path=train_dataset.path if train_dataset is not None else "",
        step_energy_kwh={
            step: float(given.metadata["energy_kwh"])
            for step, given in upstream.items()
            if given is not None and "energy_kwh" in given.metadata
        },
        training_energy={
            k: v
            for k, v in (trained_model.metadata if trained_model is not None else {}).items()
            if isinstance(v, str)
        },
    )
    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = run_deploy_model(
            model_dir=model.path,
            blessing_path=blessing.path,
            eval_path=eval_dataset.path,
            registry_uri=registry_uri or os.path.join(os.path.dirname(deployment.path), "registry"),
            model_name=model_name,
            canary_rows=canary_rows,
            canary_tolerance=canary_tolerance,
            intended_use=intended_use,
            namespace=namespace,
            pin_version=pin_version,
            apply=apply,
            uris={"model": model.uri, "eval_data": eval_dataset.uri, "blessing": blessing.uri},
            training=training,
        )
    uri_io.write_bytes(summary.path, render_deploy_model(outcome, energy.to_dict()).encode())
    uri_io.write_bytes(deployment.path, outcome.to_json().encode())
    uri_io.write_bytes(inference_service.path, render_inference_service(outcome).encode())
    inference_service.metadata.update({"deployed": outcome.deployed, "version": outcome.version})
    publish(metrics, energy, deployment, outcome.figures, outcome.metadata)
    print(f"deploy: {'version ' + str(outcome.version) if outcome.deployed else 'not deployed'}")
    return Outputs(bool(outcome.deployed), int(outcome.version), outcome.pushed_uri)
