"""KFP components for data validation. Thin wrappers: the logic lives beside this file."""

from typing import Dict, List, Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Metrics, Output

from greenkfp.components._shared.image import component_image

IMAGE = component_image()


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def import_csv(
    data_uri: str,
    train_dataset: Output[Dataset],
    eval_dataset: Output[Dataset],
    metrics: Output[Metrics],
    eval_data_uri: str = "",
    label_column: str = "",
    required_columns: Optional[List[str]] = None,
    delimiter: str = ",",
    has_header: bool = True,
    column_names: Optional[List[str]] = None,
    missing_values: Optional[List[str]] = None,
    trim_whitespace: bool = True,
    eval_fraction: float = 0.2,
    split_seed: int = 42,
    country_iso_code: str = "",
    region: str = "",
    encoding: str = "utf-8",
    mixed_numeric: str = "error",
):
    """Reads CSV data (local path or gs://), checks it and writes train and eval datasets.

    When no eval data is given, a seeded split keeps the label's class balance.
    Outputs are canonical CSV (comma, header, empty cell = missing).

    Args:
        data_uri: Training data, or all data when eval_data_uri is empty.
        train_dataset: The training rows.
        eval_dataset: The evaluation rows.
        metrics: Row and column counts.
        eval_data_uri: Separate evaluation data with the same columns.
        label_column: The label column; must be present.
        required_columns: Further columns that must be present.
        delimiter: Field separator.
        has_header: Whether the first line holds column names.
        column_names: Column names; required when has_header is false.
        missing_values: Strings meaning a missing value; default "", "?", "NA", "null", ...
        trim_whitespace: Strip spaces around values and names.
        eval_fraction: Share of rows for evaluation when splitting.
        split_seed: Seed of the split.
        country_iso_code: Grid country (ISO alpha-3) for carbon; empty uses
            GREENKFP_COUNTRY, then USA.
        region: Grid region within the country, optional.
        encoding: Text encoding of the files, decoded strictly (a byte order mark
            overrides it); a bad byte fails naming the file, line and byte.
        mixed_numeric: A column numeric in most rows but holding text in others: "error"
            fails naming the column and values; "missing" reads those cells as missing.
    """
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components.data_validation import task
    from greenkfp.components.data_validation.ingest import CsvOptions

    options = CsvOptions(
        delimiter,
        has_header,
        column_names,
        missing_values,
        trim_whitespace,
        encoding=encoding,
        mixed_numeric=mixed_numeric,
    )
    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = task.run_import_csv(
            data_uri=data_uri,
            train_path=train_dataset.path,
            eval_path=eval_dataset.path,
            options=options,
            eval_data_uri=eval_data_uri,
            eval_fraction=eval_fraction,
            split_seed=split_seed,
            label_column=label_column,
            required_columns=required_columns or [],
        )
    publish(metrics, energy, train_dataset, outcome.figures, outcome.metadata)
    eval_dataset.metadata.update(outcome.eval_metadata)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def generate_statistics(
    dataset: Input[Dataset],
    statistics: Output[Artifact],
    report: Output[HTML],
    metrics: Output[Metrics],
    beam_pipeline_args: Optional[List[str]] = None,
    country_iso_code: str = "",
    region: str = "",
):
    """Computes TFDV statistics of a dataset, with a self-contained HTML report.

    Args:
        dataset: Canonical CSV data.
        statistics: DatasetFeatureStatisticsList binary proto.
        report: Per-feature histograms or top values, missing rate, min/max/mean.
        metrics: rows, columns, missing_cells.
        beam_pipeline_args: Beam options for large data, for example
            ["--runner=DataflowRunner", "--project=..."]; empty uses TFDV's in-memory path.
        country_iso_code: Grid country (ISO alpha-3) for carbon; empty uses
            GREENKFP_COUNTRY, then USA.
        region: Grid region within the country, optional.
    """
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components.data_validation import task
    from greenkfp.components.data_validation.report import render_generate_statistics

    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = task.run_generate_statistics(
            dataset_path=dataset.path,
            statistics_path=statistics.path,
            beam_pipeline_args=beam_pipeline_args or [],
        )
    with open(report.path, "w", encoding="utf-8") as f:
        f.write(render_generate_statistics(outcome, energy.to_dict()))
    publish(metrics, energy, statistics, outcome.figures, outcome.metadata)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def infer_schema(
    statistics: Input[Artifact],
    schema: Output[Artifact],
    metrics: Output[Metrics],
    categorical_features: Optional[List[str]] = None,
    required_columns: Optional[List[str]] = None,
    max_string_domain_size: int = 100,
    schema_uri: str = "",
    country_iso_code: str = "",
    region: str = "",
    decision: Optional[Input[Artifact]] = None,
):
    """Infers a TFDV schema from statistics, or checks and passes on a curated one.

    Args:
        statistics: Statistics of the reference data.
        schema: Schema text proto.
        metrics: features, and the step's energy figures.
        categorical_features: Integer columns that hold categories.
        required_columns: Columns that must never be missing; others may have gaps.
        max_string_domain_size: String columns with at most this many values get a domain.
        schema_uri: A curated schema (text proto) to use instead of inferring one; it must
            name every required column and every column of the statistics. Empty: infer.
        country_iso_code: Grid country (ISO alpha-3) for carbon; empty uses
            GREENKFP_COUNTRY, then USA.
        region: Grid region within the country, optional.
        decision: decide_retraining's decision; when it says not to retrain, the step
            writes "skipped" outputs and returns at once. Not given: the step runs.
    """
    from greenkfp.components._shared.skipping import finish_skipped

    if finish_skipped(decision, metrics, [schema], country_iso_code, region):
        return
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components.data_validation import task

    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = task.run_infer_schema(
            statistics_path=statistics.path,
            schema_path=schema.path,
            categorical_features=categorical_features or [],
            required_columns=required_columns or [],
            max_string_domain_size=max_string_domain_size,
            schema_uri=schema_uri,
        )
    publish(metrics, energy, schema, outcome.figures, outcome.metadata)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def validate_data(
    statistics: Input[Artifact],
    schema: Input[Artifact],
    anomalies: Output[Artifact],
    summary: Output[Markdown],
    metrics: Output[Metrics],
    baseline_statistics: Optional[Input[Artifact]] = None,
    serving_statistics: Optional[Input[Artifact]] = None,
    numeric_drift_threshold: float = 0.1,
    categorical_drift_threshold: float = 0.1,
    drift_thresholds: Optional[Dict[str, float]] = None,
    fail_on: str = "anomalies",
    reference_statistics_uri: str = "",
    country_iso_code: str = "",
    region: str = "",
):
    """Checks statistics against a schema, drift against a baseline, and skew.

    Drift uses Jensen-Shannon divergence for numeric features and L-infinity
    distance for categorical ones; the same thresholds apply to skew.

    Args:
        statistics: Statistics of the data to check.
        schema: The expected schema.
        anomalies: TFDV Anomalies text proto.
        summary: Every anomaly with feature, kind and value; drift per feature.
        metrics: anomaly_count, drifted_feature_count, max_drift, skewed_feature_count, max_skew.
        baseline_statistics: Statistics to compare with for drift (for example training data).
        serving_statistics: Serving data statistics, for train/serving skew.
        numeric_drift_threshold: Jensen-Shannon divergence threshold, in (0, 1].
        categorical_drift_threshold: L-infinity distance threshold, in (0, 1].
        drift_thresholds: Per-feature threshold overrides.
        fail_on: "anomalies" (any anomaly), "drift" (drift or skew only) or "never".
        reference_statistics_uri: Statistics of an earlier data set (a generate_statistics
            output's URI, e.g. the data the live model learned from); drift against them
            is measured too, with the same thresholds. Empty: none.
        country_iso_code: Grid country (ISO alpha-3) for carbon; empty uses
            GREENKFP_COUNTRY, then USA.
        region: Grid region within the country, optional.
    """
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components._shared.tfdv_drift import DriftThresholds
    from greenkfp.components.data_validation import task
    from greenkfp.components.data_validation.report import render_validate_data
    from greenkfp.components.data_validation.validation import check_fail_on

    thresholds = DriftThresholds(
        numeric_drift_threshold, categorical_drift_threshold, drift_thresholds or {}
    )
    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = task.run_validate_data(
            statistics_path=statistics.path,
            schema_path=schema.path,
            anomalies_path=anomalies.path,
            baseline_statistics_path=baseline_statistics.path if baseline_statistics else "",
            serving_statistics_path=serving_statistics.path if serving_statistics else "",
            drift=thresholds,
            skew=thresholds,
            fail_on=fail_on,
            reference_statistics_path=reference_statistics_uri,
        )
    with open(summary.path, "w", encoding="utf-8") as f:
        f.write(render_validate_data(outcome, energy.to_dict()))
    publish(metrics, energy, anomalies, outcome.figures, outcome.metadata)
    check_fail_on(outcome, fail_on)
