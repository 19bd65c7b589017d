"""TFDV statistics of a dataset: compute, store, summarize.

Small data uses TFDV's in-memory path; with Beam pipeline options the computation
runs as a Beam pipeline (DirectRunner, Dataflow, Flink, Spark, ...).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.beam_options import beam_options
from greenkfp.components._shared.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    from tensorflow_metadata.proto.v0 import statistics_pb2

STATISTICS_FORMAT = "tensorflow_metadata.DatasetFeatureStatisticsList (binary proto)"


@dataclass
class StatisticsSummary:
    """Headline numbers of one dataset's statistics."""

    rows: int
    columns: int
    missing_cells: int


def _tfdv_ready_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Keeps integer columns integer when they have missing values.

    pandas turns an integer column with a gap into floats; TFDV would then see
    FLOAT where the schema says INT, a false type anomaly.
    """
    out = df.reset_index(drop=True)
    for column in out.columns:
        series = out[column]
        if series.dtype.kind == "f" and series.isna().any():
            present = series.dropna()
            if not present.empty and (present == present.round()).all():
                out[column] = series.astype("Int64")
    return out


def compute_statistics(
    dataset_path: str, beam_pipeline_args: Optional[Sequence[str]] = None
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Computes TFDV statistics of a canonical CSV dataset.

    Args:
        dataset_path: A dataset written by :func:`greenkfp.components._shared.io.write_dataset`.
        beam_pipeline_args: Beam options such as ``["--runner=DataflowRunner", ...]``;
            empty means TFDV's in-memory path. Without ``--runner``, the in-process
            DirectRunner (``_shared.beam_options``), never Beam's downloading default.

    Returns:
        The statistics proto.
    """
    import tensorflow_data_validation as tfdv

    if beam_pipeline_args:
        from apache_beam.options.pipeline_options import PipelineOptions

        if not uri_io.exists(dataset_path):
            raise InputError(f"dataset not found: {dataset_path}")
        with tempfile.TemporaryDirectory() as tmp:
            return tfdv.generate_statistics_from_csv(
                data_location=dataset_path,
                output_path=os.path.join(tmp, "stats.tfrecord"),
                pipeline_options=PipelineOptions(beam_options(beam_pipeline_args)),
            )
    df = uri_io.read_dataset(dataset_path)
    if df.empty:
        raise InputError(f"dataset has no rows: {dataset_path}")
    return tfdv.generate_statistics_from_dataframe(_tfdv_ready_frame(df), n_jobs=1)


def write_statistics(stats: statistics_pb2.DatasetFeatureStatisticsList, path: str) -> None:
    """Writes statistics as a binary proto file (read back with ``load_statistics``)."""
    with uri_io.open_uri(path, "wb") as f:
        f.write(stats.SerializeToString())


def summarize(stats: statistics_pb2.DatasetFeatureStatisticsList) -> StatisticsSummary:
    """Counts rows, columns and missing cells of the first dataset."""
    dataset = stats.datasets[0]
    missing = sum(feature_common_stats(f).num_missing for f in dataset.features)
    return StatisticsSummary(int(dataset.num_examples), len(dataset.features), int(missing))


def feature_common_stats(feature: Any) -> Any:
    """Returns the ``CommonStatistics`` of a ``FeatureNameStatistics``, whatever its type."""
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind else None


def feature_name(feature: Any) -> str:
    """Returns a feature's name (its path joined with dots)."""
    return ".".join(feature.path.step) if feature.path.step else feature.name
