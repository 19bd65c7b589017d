"""The data validation pipeline: statistics, schema, and validation with drift."""

from typing import List

from kfp import dsl

from greenkfp.components import generate_statistics, import_csv, infer_schema, validate_data

PIPELINE_NAME = "data-validation-pipeline"


@dsl.pipeline(
    name=PIPELINE_NAME,
    description=(
        "Imports CSV data, computes TFDV statistics of train and eval data, infers a schema "
        "and validates eval data against it, with drift against the training data."
    ),
)
def data_validation_pipeline(
    data_uri: str,
    eval_data_uri: str = "",
    label_column: str = "",
    delimiter: str = ",",
    missing_values: List[str] = ["", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"],
    trim_whitespace: bool = True,
    eval_fraction: float = 0.2,
    split_seed: int = 42,
    categorical_features: List[str] = [],
    required_columns: List[str] = [],
    numeric_drift_threshold: float = 0.1,
    categorical_drift_threshold: float = 0.1,
    fail_on: str = "anomalies",
    beam_pipeline_args: List[str] = [],
):
    """Validates a CSV data set and checks eval data for drift against train data.

    Args:
        data_uri: CSV of training data, or of all data when eval_data_uri is empty.
        eval_data_uri: CSV of evaluation data; empty makes a seeded split.
        label_column: The label column (required; the split keeps its balance).
        delimiter: CSV field separator.
        missing_values: Strings that mean a missing value.
        trim_whitespace: Strip spaces around values.
        eval_fraction: Share of rows for evaluation when splitting.
        split_seed: Seed of the split.
        categorical_features: Integer columns that hold categories.
        required_columns: Columns that must never be missing.
        numeric_drift_threshold: Jensen-Shannon divergence threshold.
        categorical_drift_threshold: L-infinity distance threshold.
        fail_on: "anomalies", "drift" or "never".
        beam_pipeline_args: Beam options for statistics of large data.
    """
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
    ).set_display_name("Import CSV data")
    train_stats = generate_statistics(
        dataset=data.outputs["train_dataset"], beam_pipeline_args=beam_pipeline_args
    ).set_display_name("Statistics: train")
    eval_stats = generate_statistics(
        dataset=data.outputs["eval_dataset"], beam_pipeline_args=beam_pipeline_args
    ).set_display_name("Statistics: eval")
    schema = infer_schema(
        statistics=train_stats.outputs["statistics"],
        categorical_features=categorical_features,
        required_columns=required_columns,
    ).set_display_name("Infer schema")
    validate_data(
        statistics=eval_stats.outputs["statistics"],
        schema=schema.outputs["schema"],
        baseline_statistics=train_stats.outputs["statistics"],
        numeric_drift_threshold=numeric_drift_threshold,
        categorical_drift_threshold=categorical_drift_threshold,
        fail_on=fail_on,
    ).set_display_name("Validate eval data (drift vs train)")
    for task in (data, train_stats, eval_stats, schema):
        task.set_cpu_request("1").set_memory_request("2G")
