"""Groups of tasks that several pipelines share, added inside a pipeline's body."""

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from greenkfp.components import (
    compress_model,
    deploy_model,
    evaluate_fairness,
    evaluate_gate,
    generate_statistics,
    import_csv,
    infer_schema,
    mitigate_fairness,
    sustainability_report,
    train_model,
    validate_data,
)

DEFAULT_MISSING_VALUES = ["", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]

#: The pipeline inputs that go to ``train_model`` under the same names.
TRAINING_HYPERPARAMETERS = (
    "module_file",
    "epochs",
    "batch_size",
    "learning_rate",
    "hidden_units",
    "dropout",
    "early_stopping_patience",
    "seed",
    "validation_fraction",
    "max_validation_rows",
    "deterministic",
    "max_training_minutes",
)


def training_hyperparameters(pipeline_inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Picks the :data:`TRAINING_HYPERPARAMETERS` out of a pipeline body's inputs.

    Args:
        pipeline_inputs: The pipeline function's parameters by name (its ``locals()``).

    Raises:
        TypeError: When the pipeline lacks one of them (a programming error).
    """
    missing = [name for name in TRAINING_HYPERPARAMETERS if name not in pipeline_inputs]
    if missing:
        raise TypeError(f"the pipeline lacks the training inputs {missing}")
    return {name: pipeline_inputs[name] for name in TRAINING_HYPERPARAMETERS}


@dataclass(frozen=True)
class TrainingResources:
    """The training task's resources, fixed when a pipeline is compiled (as KFP requires).

    Attributes:
        cpu_limit: CPU limit of the training task, e.g. "4".
        memory_limit: Memory limit of the training task, e.g. "16G".
        accelerator_type: For example "nvidia.com/gpu" (KFP) or "NVIDIA_TESLA_T4"
            (Vertex AI); empty trains on CPU.
        accelerator_limit: Number of accelerators when a type is given.
    """

    cpu_limit: str = "2"
    memory_limit: str = "8G"
    accelerator_type: str = ""
    accelerator_limit: int = 1


def request_resources(task: Any, cpu: str, memory: str) -> Any:
    """Sets a task's CPU and memory requests, so the scheduler places it sensibly."""
    return task.set_cpu_request(cpu).set_memory_request(memory)


@dataclass
class DataValidationTasks:
    """The tasks :func:`add_data_validation` added."""

    data: Any
    train_statistics: Any
    eval_statistics: Any
    schema: Any
    validation: Any


def add_data_validation(
    *,
    data_uri: Any,
    eval_data_uri: Any,
    label_column: Any,
    delimiter: Any,
    missing_values: Any,
    trim_whitespace: Any,
    eval_fraction: Any,
    split_seed: Any,
    categorical_features: Any,
    required_columns: Any,
    numeric_drift_threshold: Any,
    categorical_drift_threshold: Any,
    fail_on: Any,
    beam_pipeline_args: Any,
    country_iso_code: Any,
    region: Any,
    schema_uri: Any = "",
    reference_statistics_uri: Any = "",
    encoding: Any = "utf-8",
    mixed_numeric: Any = "error",
) -> DataValidationTasks:
    """Adds import, statistics of train and eval, schema and validation with drift.

    The schema is inferred from the training statistics unless ``schema_uri`` names a
    curated one; eval data is checked for drift against the training data, and against
    ``reference_statistics_uri`` when given. Every argument is passed on to the
    component input of the same name (``import_csv``, ``generate_statistics``,
    ``infer_schema``, ``validate_data``); ``country_iso_code`` and ``region`` to all.
    """
    energy = {"country_iso_code": country_iso_code, "region": region}
    data = import_csv(
        data_uri=data_uri,
        eval_data_uri=eval_data_uri,
        label_column=label_column,
        required_columns=required_columns,
        delimiter=delimiter,
        missing_values=missing_values,
        trim_whitespace=trim_whitespace,
        eval_fraction=eval_fraction,
        split_seed=split_seed,
        encoding=encoding,
        mixed_numeric=mixed_numeric,
        **energy,
    ).set_display_name("Import CSV data")
    train_stats = generate_statistics(
        dataset=data.outputs["train_dataset"], beam_pipeline_args=beam_pipeline_args, **energy
    ).set_display_name("Statistics: train")
    eval_stats = generate_statistics(
        dataset=data.outputs["eval_dataset"], beam_pipeline_args=beam_pipeline_args, **energy
    ).set_display_name("Statistics: eval")
    schema = infer_schema(
        statistics=train_stats.outputs["statistics"],
        categorical_features=categorical_features,
        required_columns=required_columns,
        schema_uri=schema_uri,
        **energy,
    ).set_display_name("Infer schema")
    validation = validate_data(
        statistics=eval_stats.outputs["statistics"],
        schema=schema.outputs["schema"],
        baseline_statistics=train_stats.outputs["statistics"],
        numeric_drift_threshold=numeric_drift_threshold,
        categorical_drift_threshold=categorical_drift_threshold,
        fail_on=fail_on,
        reference_statistics_uri=reference_statistics_uri,
        **energy,
    ).set_display_name("Validate eval data (drift vs train)")
    for task in (data, train_stats, eval_stats, schema, validation):
        request_resources(task, cpu="1", memory="2G")
    return DataValidationTasks(data, train_stats, eval_stats, schema, validation)


def add_training(
    *,
    data: Any,
    schema: Any,
    label_column: Any,
    positive_label: Any,
    hyperparameters: dict[str, Any],
    country_iso_code: Any,
    region: Any,
    resources: TrainingResources,
    after: Any = None,
    skip: Optional[dict[str, Any]] = None,
    policy: Any = None,
) -> Any:
    """Adds energy-metered training on the imported data, with its resources.

    Args:
        data: The ``import_csv`` task (train and eval datasets).
        schema: The ``infer_schema`` task.
        label_column: The label column.
        positive_label: Label value of the positive class.
        hyperparameters: The :data:`TRAINING_HYPERPARAMETERS` (see
            :func:`training_hyperparameters`).
        country_iso_code: Grid country for carbon.
        region: Grid region.
        resources: The training task's resources.
        after: A task training waits for (the data validation), if any.
        skip: ``{"decision": ...}`` when training takes a retraining decision.
        policy: The pipeline's policy, the value the gate gets (``mitigation: reweigh``
            trains with reweighing sample weights and an unweighted reference); None
            leaves the input unset (no reweighing).

    Returns:
        The ``train_model`` task.
    """
    training = (
        train_model(
            train_dataset=data.outputs["train_dataset"],
            eval_dataset=data.outputs["eval_dataset"],
            schema=schema.outputs["schema"],
            label_column=label_column,
            positive_label=positive_label,
            country_iso_code=country_iso_code,
            region=region,
            **hyperparameters,
            **(skip or {}),
            **({} if policy is None else {"policy": policy}),
        )
        .set_display_name("Train model (energy-metered)")
        .set_cpu_limit(resources.cpu_limit)
        .set_memory_limit(resources.memory_limit)
    )
    if after is not None:
        training.after(after)
    request_resources(training, cpu="1", memory="2G")
    if resources.accelerator_type:
        training.set_accelerator_type(resources.accelerator_type).set_accelerator_limit(
            resources.accelerator_limit
        )
    return training


@dataclass
class ReleaseTasks:
    """The tasks :func:`add_release` added."""

    compression: Any
    fairness: Any
    mitigation: Any
    gate: Any
    deployment: Any
    report: Any


def add_release(
    *,
    data: Any,
    train_statistics: Any,
    schema: Any,
    training: Any,
    upstream_metrics: dict[str, Any],
    label_column: Any,
    positive_label: Any,
    sensitive_features: Any,
    feature_buckets: Any,
    compression_methods: Any,
    sparsity: Any,
    max_accuracy_drop: Any,
    max_auc_drop: Any,
    seed: Any,
    fairness_thresholds: Any,
    min_slice_size: Any,
    beam_pipeline_args: Any,
    policy: Any,
    registry_uri: Any,
    model_name: Any,
    embodied_g_co2eq_per_1k: Any,
    gate_name: str,
    energy: dict[str, Any],
    skip: dict[str, Any],
    deploy_inputs: dict[str, Any],
) -> ReleaseTasks:
    """Adds compression, fairness of the compressed model, mitigation, the gate, deploy, report.

    The mitigation step (``mitigate_fairness``) tries the policy's fairness remedy; the
    model that leaves it is what the gate judges (through its metrics) and deploy pushes.

    ``data``, ``train_statistics``, ``schema`` and ``training`` are the upstream tasks
    (``import_csv``, the training data's ``generate_statistics``, ``infer_schema``,
    ``train_model``); ``upstream_metrics`` holds the Metrics of the steps before training
    under the ``deploy_model``/``sustainability_report`` input names (``import_metrics``,
    ...). ``gate_name`` is the gate's display name; ``energy`` holds ``country_iso_code``
    and ``region`` for every task; ``skip`` is ``{"decision": ...}`` when the tasks take a
    retraining decision, else empty; ``deploy_inputs`` are further ``deploy_model`` inputs.
    Every other argument goes to the component inputs of the same name
    (``compression_methods`` to ``compress_model``'s ``methods``, ``fairness_thresholds``
    to ``evaluate_fairness``'s ``thresholds``). The registry-facing tasks (gate, deploy,
    report) are never cached.
    """
    compression = compress_model(
        model=training.outputs["model"],
        train_dataset=data.outputs["train_dataset"],
        eval_dataset=data.outputs["eval_dataset"],
        methods=compression_methods,
        sparsity=sparsity,
        max_accuracy_drop=max_accuracy_drop,
        max_auc_drop=max_auc_drop,
        seed=seed,
        **energy,
        **skip,
    ).set_display_name("Compress model (prune, quantize, TFLite)")
    fairness = evaluate_fairness(
        model=compression.outputs["compressed_model"],
        baseline_model=training.outputs["model"],
        eval_dataset=data.outputs["eval_dataset"],
        label_column=label_column,
        positive_label=positive_label,
        sensitive_features=sensitive_features,
        feature_buckets=feature_buckets,
        thresholds=fairness_thresholds,
        min_slice_size=min_slice_size,
        beam_pipeline_args=beam_pipeline_args,
        **energy,
        **skip,
    ).set_display_name("Fairness and quality of the compressed model")
    mitigation = mitigate_fairness(
        model=compression.outputs["compressed_model"],
        eval_dataset=data.outputs["eval_dataset"],
        train_dataset=data.outputs["train_dataset"],
        fairness_output=fairness.outputs["tfma_output"],
        fairness_metrics=fairness.outputs["metrics"],
        trained_model=training.outputs["model"],
        label_column=label_column,
        positive_label=positive_label,
        policy=policy,
        **energy,
        **skip,
    ).set_display_name("Fairness mitigation (by policy)")
    gate = evaluate_gate(
        policy=policy,
        training_metrics=training.outputs["metrics"],
        compression_metrics=compression.outputs["metrics"],
        # The gate judges the model that leaves mitigation: its fairness figures.
        fairness_metrics=mitigation.outputs["metrics"],
        registry_uri=registry_uri,
        model_name=model_name,
        **energy,
        **skip,
    ).set_display_name(gate_name)
    # Each step's energy: recorded in the deployed version, and reported.
    step_metrics = {
        **upstream_metrics,
        "training_metrics": training.outputs["metrics"],
        "compression_metrics": compression.outputs["metrics"],
        "fairness_metrics": fairness.outputs["metrics"],
        "mitigation_metrics": mitigation.outputs["metrics"],
        "gate_metrics": gate.outputs["metrics"],
    }
    deployment = deploy_model(
        model=mitigation.outputs["mitigated_model"],
        blessing=gate.outputs["blessing"],
        eval_dataset=data.outputs["eval_dataset"],
        registry_uri=registry_uri,
        model_name=model_name,
        train_statistics=train_statistics.outputs["statistics"],
        schema=schema.outputs["schema"],
        train_dataset=data.outputs["train_dataset"],
        trained_model=training.outputs["model"],
        **deploy_inputs,
        **step_metrics,
        **energy,
        **skip,
    ).set_display_name("Deploy blessed model")
    report = sustainability_report(
        **step_metrics,
        blessing=gate.outputs["blessing"],
        mitigation=mitigation.outputs["mitigation"],
        deployment_metrics=deployment.outputs["metrics"],
        deployment=deployment.outputs["deployment"],
        embodied_g_co2eq_per_1k=embodied_g_co2eq_per_1k,
        **energy,
        **skip,
    ).set_display_name("Sustainability report")
    request_resources(compression, cpu="2", memory="4G")
    request_resources(fairness, cpu="1", memory="4G")
    request_resources(mitigation, cpu="1", memory="2G")
    for task in (gate, deployment, report):
        request_resources(task, cpu="1", memory="2G")
        # The gate reads the registry's live version, deploy changes it: never reuse them.
        task.set_caching_options(False)
    return ReleaseTasks(compression, fairness, mitigation, gate, deployment, report)
