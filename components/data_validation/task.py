"""What the data validation components do: one entry function per component, over files.

``run_import_csv``, ``run_generate_statistics``, ``run_infer_schema`` and
``run_validate_data`` read their inputs, write their data outputs and return an outcome
with the step's ``figures`` (for Metrics) and ``metadata`` (for its main artifact). The
reports are rendered by :mod:`report`; the CSV, statistics, schema and validation logic
lives in :mod:`ingest`, :mod:`statistics`, :mod:`schema` and :mod:`validation`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared import progress
from greenkfp.components._shared.tfdv_schema import load_schema
from greenkfp.components._shared.tfdv_statistics import load_statistics
from greenkfp.components.data_validation import ingest, statistics
from greenkfp.components.data_validation import schema as schema_lib
from greenkfp.components.data_validation.schema import SCHEMA_FORMAT
from greenkfp.components.data_validation.statistics import STATISTICS_FORMAT, StatisticsSummary
from greenkfp.components.data_validation.validation import (
    DriftThresholds,
    ValidationResult,
    add_reference_drift,
    check_fail_on_choice,
    validate,
)

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2


@dataclass
class ImportOutcome:
    """What :func:`run_import_csv` wrote.

    Attributes:
        train_rows: Rows of the train dataset.
        eval_rows: Rows of the eval dataset.
        columns: The columns of both.
        lineage: Where the data came from (source URI and SHA-256, eval source, label).
    """

    train_rows: int
    eval_rows: int
    columns: list[str]
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def figures(self) -> dict[str, float]:
        """Row and column counts."""
        return {
            "train_rows": float(self.train_rows),
            "eval_rows": float(self.eval_rows),
            "columns": float(len(self.columns)),
        }

    @property
    def metadata(self) -> dict[str, Any]:
        """The train dataset's metadata: lineage and its rows."""
        return {**self.lineage, "rows": self.train_rows}

    @property
    def eval_metadata(self) -> dict[str, Any]:
        """The eval dataset's metadata: lineage and its rows."""
        return {**self.lineage, "rows": self.eval_rows}


def run_import_csv(
    *,
    data_uri: str,
    train_path: str,
    eval_path: str,
    options: Optional[ingest.CsvOptions] = None,
    eval_data_uri: str = "",
    eval_fraction: float = 0.2,
    split_seed: int = 42,
    label_column: str = "",
    required_columns: Sequence[str] = (),
) -> ImportOutcome:
    """Reads user CSV data and writes canonical train and eval datasets.

    Args:
        data_uri: The training data (or all data when ``eval_data_uri`` is empty).
        train_path: Where to write the train dataset.
        eval_path: Where to write the eval dataset.
        options: The CSV dialect of both files.
        eval_data_uri: Separate eval data; when empty a seeded split of
            ``data_uri`` is made.
        eval_fraction: Share of rows for eval when splitting.
        split_seed: Seed of the split.
        label_column: The label; required, and the split keeps its balance.
        required_columns: Further columns that must be present.

    Returns:
        Row counts, columns and lineage.

    Raises:
        InputError: A file that cannot be read as CSV, or a required column missing.
    """
    with progress.timed(f"CSV import of {data_uri}") as done:
        data = ingest.CsvScan(data_uri, options, count_values_of=label_column)
        progress.report(f"checked {data.rows:,} rows of {len(data.columns)} columns; writing")
        ingest.require_columns_of(data.columns, [label_column, *required_columns], data_uri)
        if eval_data_uri:
            eval_scan = ingest.CsvScan(eval_data_uri, options)
            ingest.require_columns_of(eval_scan.columns, data.columns, eval_data_uri)
            with uri_io.dataset_writer(train_path) as write:
                for chunk in data.chunks():
                    write(chunk)
            with uri_io.dataset_writer(eval_path) as write:
                for chunk in eval_scan.chunks():
                    write(chunk[data.columns])
            train_rows, eval_rows = data.rows, eval_scan.rows
        else:
            counts = data.value_counts if label_column else {None: data.rows}
            masks = ingest.eval_positions(counts, eval_fraction, split_seed)
            eval_rows = sum(int(mask.sum()) for mask in masks.values())
            train_rows = data.rows - eval_rows
            parts = ingest.split_chunks(data.chunks(), masks, label_column)
            with uri_io.dataset_writer(train_path) as write_train:
                with uri_io.dataset_writer(eval_path) as write_eval:
                    for train_part, eval_part in parts:
                        write_train(train_part)
                        write_eval(eval_part)
        done["result"] = f"{train_rows:,} train and {eval_rows:,} eval rows"
    lineage = {
        "source_uri": data_uri,
        "source_sha256": data.sha256,
        "eval_source_uri": eval_data_uri or f"{data_uri} (seeded split, seed={split_seed})",
        "label_column": label_column,
    }
    return ImportOutcome(train_rows, eval_rows, list(data.columns), lineage)


@dataclass
class StatisticsOutcome:
    """What :func:`run_generate_statistics` computed and wrote.

    Attributes:
        statistics: The ``DatasetFeatureStatisticsList``.
        source: The dataset the statistics are of.
        summary: Its rows, columns and missing cells.
    """

    statistics: statistics_pb2.DatasetFeatureStatisticsList
    source: str
    summary: StatisticsSummary

    @property
    def figures(self) -> dict[str, float]:
        """Rows, columns and missing cells."""
        return {name: float(value) for name, value in dataclasses.asdict(self.summary).items()}

    @property
    def metadata(self) -> dict[str, Any]:
        """The statistics artifact's format and size."""
        return {
            "format": STATISTICS_FORMAT,
            "rows": self.summary.rows,
            "columns": self.summary.columns,
        }


def run_generate_statistics(
    *, dataset_path: str, statistics_path: str, beam_pipeline_args: Sequence[str] = ()
) -> StatisticsOutcome:
    """Computes TFDV statistics of a canonical dataset and writes them as a binary proto.

    Args:
        dataset_path: A dataset written by :func:`run_import_csv`.
        statistics_path: Where to write the statistics.
        beam_pipeline_args: Beam options such as ``["--runner=DataflowRunner", ...]``;
            empty means TFDV's in-memory path.

    Returns:
        The statistics and their headline numbers.

    Raises:
        InputError: A missing or empty dataset.
    """
    how = "Beam: " + " ".join(beam_pipeline_args) if beam_pipeline_args else "in memory"
    name = dataset_path.rstrip("/").rsplit("/", 1)[-1]
    with progress.timed(f"TFDV statistics of {name}", how) as done:
        stats = statistics.compute_statistics(dataset_path, beam_pipeline_args)
        summary = statistics.summarize(stats)
        done["result"] = f"{summary.rows:,} rows, {summary.columns} columns"
    statistics.write_statistics(stats, statistics_path)
    return StatisticsOutcome(stats, dataset_path, summary)


@dataclass
class SchemaOutcome:
    """The schema :func:`run_infer_schema` wrote."""

    schema: schema_pb2.Schema

    @property
    def figures(self) -> dict[str, float]:
        """The number of features."""
        return {"features": float(len(self.schema.feature))}

    @property
    def metadata(self) -> dict[str, Any]:
        """The schema artifact's format and feature names."""
        return {"format": SCHEMA_FORMAT, "features": [f.name for f in self.schema.feature]}


def run_infer_schema(
    *,
    statistics_path: str,
    schema_path: str,
    categorical_features: Sequence[str] = (),
    required_columns: Sequence[str] = (),
    max_string_domain_size: int = 100,
    schema_uri: str = "",
) -> SchemaOutcome:
    """Infers a schema from stored statistics and writes it as a text proto.

    With ``schema_uri``, the curated schema there is used instead, after checking
    that it names every column of the statistics and every required column.

    Args:
        statistics_path: Statistics of the reference data.
        schema_path: Where to write the schema.
        categorical_features: Integer columns that hold categories.
        required_columns: Columns that must never be missing.
        max_string_domain_size: String columns with at most this many values get a domain.
        schema_uri: A curated schema to use instead of inferring one; empty infers.

    Returns:
        The schema written.

    Raises:
        InputError: Unreadable statistics or schema, an unknown column, or a curated
            schema that lacks a column of the data.
    """
    stats = load_statistics(statistics_path)
    if schema_uri:
        schema = load_schema(schema_uri)
        schema_lib.check_schema_covers(schema, stats, required_columns)
    else:
        schema = schema_lib.infer_schema(
            stats, categorical_features, required_columns, max_string_domain_size
        )
    schema_lib.write_schema(schema, schema_path)
    return SchemaOutcome(schema)


def run_validate_data(
    *,
    statistics_path: str,
    schema_path: str,
    anomalies_path: str,
    baseline_statistics_path: str = "",
    serving_statistics_path: str = "",
    drift: Optional[DriftThresholds] = None,
    skew: Optional[DriftThresholds] = None,
    fail_on: str = "anomalies",
    reference_statistics_path: str = "",
) -> ValidationResult:
    """Validates stored statistics and writes TFDV's anomalies as a text proto.

    ``fail_on`` is checked before any work, so a bad value fails fast; apply it with
    :func:`~greenkfp.components.data_validation.validation.check_fail_on` once the
    outputs are written. With ``reference_statistics_path`` (for example the statistics
    of the data the live model was trained on), drift is measured against it too, with
    the same thresholds, and its drift anomalies are added.

    Args:
        statistics_path: Statistics of the data to check.
        schema_path: The expected schema.
        anomalies_path: Where to write the anomalies.
        baseline_statistics_path: Statistics to measure drift against; empty: none.
        serving_statistics_path: Serving statistics, for train/serving skew; empty: none.
        drift: Drift thresholds; defaults to :class:`DriftThresholds`.
        skew: Skew thresholds; defaults to :class:`DriftThresholds`.
        fail_on: ``anomalies``, ``drift`` or ``never``.
        reference_statistics_path: Statistics of an earlier data set; empty: none.

    Returns:
        The anomalies, drift and skew found.

    Raises:
        InputError: A bad ``fail_on`` or threshold, or unreadable statistics or schema.
    """
    from google.protobuf import text_format

    check_fail_on_choice(fail_on)
    stats, schema = load_statistics(statistics_path), load_schema(schema_path)
    proto, result = validate(
        stats,
        schema,
        load_statistics(baseline_statistics_path) if baseline_statistics_path else None,
        load_statistics(serving_statistics_path) if serving_statistics_path else None,
        drift,
        skew,
    )
    if reference_statistics_path:
        reference = load_statistics(reference_statistics_path)
        add_reference_drift(result, stats, schema, reference, drift)
    with uri_io.open_uri(anomalies_path, "w") as f:
        f.write(text_format.MessageToString(proto))
    return result
