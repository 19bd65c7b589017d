"""The data validation pipeline: statistics, schema, and validation with drift."""

from typing import List

from kfp import dsl

from greenkfp.pipelines._steps import DEFAULT_MISSING_VALUES, add_data_validation

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
    missing_values: List[str] = DEFAULT_MISSING_VALUES,
    trim_whitespace: bool = True,
    eval_fraction: float = 0.2,
    split_seed: int = 42,
    categorical_features: List[str] = [],
    required_columns: List[str] = [],
    numeric_drift_threshold: float = 0.1,
    categorical_drift_threshold: float = 0.1,
    fail_on: str = "anomalies",
    beam_pipeline_args: List[str] = [],
    country_iso_code: str = "",
    region: str = "",
    encoding: str = "utf-8",
    mixed_numeric: str = "error",
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
        country_iso_code: Grid country (ISO alpha-3) for carbon; empty uses the
            GREENKFP_COUNTRY of the task's environment, then USA.
        region: Grid region within the country, optional.
        encoding: Text encoding of the CSV files (a byte order mark overrides it).
        mixed_numeric: A mostly numeric column holding text: "error" or "missing".
    """
    add_data_validation(
        data_uri=data_uri,
        eval_data_uri=eval_data_uri,
        label_column=label_column,
        delimiter=delimiter,
        missing_values=missing_values,
        trim_whitespace=trim_whitespace,
        eval_fraction=eval_fraction,
        split_seed=split_seed,
        categorical_features=categorical_features,
        required_columns=required_columns,
        numeric_drift_threshold=numeric_drift_threshold,
        categorical_drift_threshold=categorical_drift_threshold,
        fail_on=fail_on,
        beam_pipeline_args=beam_pipeline_args,
        country_iso_code=country_iso_code,
        region=region,
        encoding=encoding,
        mixed_numeric=mixed_numeric,
    )
