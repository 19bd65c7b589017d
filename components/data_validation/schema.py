"""Schema inference with TFDV, with options for categorical domains and required columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

SCHEMA_FORMAT = "tensorflow_metadata.Schema (text proto)"


def infer_schema(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    categorical_features: Sequence[str] = (),
    required_columns: Sequence[str] = (),
    max_string_domain_size: int = 100,
) -> schema_pb2.Schema:
    """Infers a schema from statistics.

    Columns in ``required_columns`` must be present in every row; every other
    column may have missing values (CSV data has gaps). Integer columns named in
    ``categorical_features`` are marked categorical.

    Args:
        stats: Statistics of the reference (usually training) data.
        categorical_features: Integer columns that hold categories (for example ``job``).
        required_columns: Columns that must never be missing.
        max_string_domain_size: String columns with at most this many distinct
            values get a domain of allowed values.

    Returns:
        The schema.
    """
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    if max_string_domain_size < 1:
        raise InputError(f"max_string_domain_size must be >= 1, got {max_string_domain_size}")
    schema = tfdv.infer_schema(
        stats, infer_feature_shape=False, max_string_domain_size=max_string_domain_size
    )
    names = {f.name for f in schema.feature}
    unknown = [c for c in [*categorical_features, *required_columns] if c not in names]
    if unknown:
        raise InputError(
            f"column(s) {unknown} are not in the data; its columns are {sorted(names)}"
        )
    for feature in schema.feature:
        feature.presence.min_fraction = 1.0 if feature.name in required_columns else 0.0
        if feature.name in categorical_features:
            if feature.type != schema_pb2.INT:
                raise InputError(
                    f"categorical_features: column {feature.name!r} is not an integer column"
                )
            feature.int_domain.is_categorical = True
    return schema


def write_schema(schema: schema_pb2.Schema, path: str) -> None:
    """Writes a schema as a text proto."""
    from google.protobuf import text_format

    with uri_io.open_uri(path, "w") as f:
        f.write(text_format.MessageToString(schema))


def check_schema_covers(
    schema: schema_pb2.Schema,
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    required_columns: Sequence[str] = (),
) -> None:
    """Raises :class:`InputError` when a given schema lacks a column of the data."""
    names = {f.name for f in schema.feature}
    columns = {".".join(f.path.step) or f.name for f in stats.datasets[0].features}
    missing = sorted((columns | set(required_columns)) - names)
    if missing:
        raise InputError(
            f"the given schema lacks column(s) {missing} of the data; it has {sorted(names)}"
        )
