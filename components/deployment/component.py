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
        fairness_metrics: Metrics of the fairness evaluation of the candidate.
        registry_uri: Model registry base URI; empty skips champion/challenger.
        model_name: The model's name in the registry.
        country_iso_code: Grid country (ISO alpha-3) for carbon; empty uses
            GREENKFP_COUNTRY, then USA.
        region: Grid region within the country, optional.

    Returns:
        approved: Whether every check passed.
    """
    import os
    from collections import namedtuple

    from greenkfp.components._shared.metering import metered_step, record_energy
    from greenkfp.components.deployment import task

    inputs = {
        name: (artifact.uri, dict(artifact.metadata)) if artifact is not None else None
        for name, artifact in [
            ("training", training_metrics),
            ("compression", compression_metrics),
            ("fairness", fairness_metrics),
        ]
    }
    with metered_step(os.path.dirname(metrics.path), country_iso_code, region) as energy:
        result = task.run_gate(policy, inputs, registry_uri, model_name)
        task.write_gate_outputs(result, blessing.path, summary.path, model_name)
    record = result.to_dict()
    blessing.metadata.update(
        {k: record[k] for k in ("approved", "reasons", "checks", "candidate_metrics", "policy")}
    )
    metrics.log_metric("approved", float(result.approved))
    metrics.log_metric("checks_passed", float(sum(c.verdict == "pass" for c in result.checks)))
    metrics.log_metric("checks_failed", float(sum(c.verdict == "fail" for c in result.checks)))
    record_energy(energy, metrics, blessing)
    print(f"gate: {'APPROVED' if result.approved else 'REFUSED'}; " + "; ".join(result.reasons))
    return namedtuple("Outputs", ["approved"])(bool(result.approved))


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
) -> NamedTuple("Outputs", [("deployed", bool), ("version", int), ("pushed_uri", str)]):
    """Pushes a blessed model to a versioned registry, verified, and makes it live.

    TFX Pusher semantics: a model the gate did not bless is not pushed (nothing is
    written) and the outputs say why. A blessed one is written to
    <registry_uri>/<model_name>/<version>/ (SavedModel at the root as TF Serving reads it,
    the TFLite model, blessing, metrics, model card), verified by loading it and
    comparing canary predictions on eval rows with the candidate's, published
    atomically, and only then made LIVE.

    Args:
        model: The candidate (train_model or compress_model output).
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

    Returns:
        deployed: Whether a version was pushed.
        version: The pushed version (0 when none).
        pushed_uri: The pushed version's URI ("" when none).
    """
    import os
    from collections import namedtuple

    from greenkfp.components._shared.metering import metered_step, record_energy
    from greenkfp.components.deployment import task

    with metered_step(os.path.dirname(metrics.path), country_iso_code, region) as energy:
        outcome = task.run_deploy(
            model.path,
            blessing.path,
            eval_dataset.path,
            registry_uri or os.path.join(os.path.dirname(deployment.path), "registry"),
            model_name,
            canary_rows=canary_rows,
            canary_tolerance=canary_tolerance,
            intended_use=intended_use,
            namespace=namespace,
            pin_version=pin_version,
            apply=apply,
            uris={"model": model.uri, "eval_data": eval_dataset.uri, "blessing": blessing.uri},
        )
        task.write_deploy_outputs(outcome, deployment.path, inference_service.path, summary.path)
    record = outcome.to_dict()
    deployment.metadata.update(
        {k: record[k] for k in ("deployed", "version", "pushed_uri", "live", "reasons")}
    )
    inference_service.metadata.update({"deployed": outcome.deployed, "version": outcome.version})
    metrics.log_metric("deployed", float(outcome.deployed))
    metrics.log_metric("version", float(outcome.version))
    metrics.log_metric("live", float(outcome.live))
    for key in ("rows", "max_abs_diff"):
        if key in outcome.canary:
            metrics.log_metric(f"canary_{key}", float(outcome.canary[key]))
    record_energy(energy, metrics, deployment)
    print(f"deploy: {'version ' + str(outcome.version) if outcome.deployed else 'not deployed'}")
    Outputs = namedtuple("Outputs", ["deployed", "version", "pushed_uri"])
    return Outputs(bool(outcome.deployed), int(outcome.version), outcome.pushed_uri)
