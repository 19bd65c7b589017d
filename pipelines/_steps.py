"""Groups of tasks that several pipelines share, added inside a pipeline's body."""

from dataclasses import dataclass
from typing import Any

from greenkfp.components import (
    generate_statistics,
    import_csv,
    infer_schema,
    train_model,
    validate_data,
)

DEFAULT_MISSING_VALUES = ["", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


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
    checked: DataValidationTasks,
    label_column: Any,
    positive_label: Any,
    hyperparameters: dict[str, Any],
    country_iso_code: Any,
    region: Any,
    resources: dict[str, Any],
) -> Any:
    """Adds energy-metered training on the validated data, after the validation passed.

    Args:
        checked: The data validation tasks.
        label_column: The label column.
        positive_label: Label value of the positive class.
        hyperparameters: ``module_file``, ``epochs``, ``batch_size``, ``learning_rate``,
            ``hidden_units``, ``dropout``, ``early_stopping_patience`` and ``seed``.
        country_iso_code: Grid country for carbon.
        region: Grid region.
        resources: ``cpu_limit``, ``memory_limit``, ``accelerator_type`` (empty: CPU) and
            ``accelerator_limit`` of the training task.

    Returns:
        The ``train_model`` task.
    """
    training = (
        train_model(
            train_dataset=checked.data.outputs["train_dataset"],
            eval_dataset=checked.data.outputs["eval_dataset"],
            schema=checked.schema.outputs["schema"],
            label_column=label_column,
            positive_label=positive_label,
            country_iso_code=country_iso_code,
            region=region,
            **hyperparameters,
        )
        .set_display_name("Train model (energy-metered)")
        .after(checked.validation)
        .set_cpu_limit(resources["cpu_limit"])
        .set_memory_limit(resources["memory_limit"])
    )
    request_resources(training, cpu="1", memory="2G")
    if resources["accelerator_type"]:
        training.set_accelerator_type(resources["accelerator_type"]).set_accelerator_limit(
            resources["accelerator_limit"]
        )
    return training
