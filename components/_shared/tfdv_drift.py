"""Drift between two TFDV statistics: Jensen-Shannon (numeric) and L-infinity (categorical).

TFDV measures both when a schema feature carries a ``drift_comparator`` (or a
``skew_comparator``) with a threshold; data validation and the continuous training
decision set the comparators and read the measurements here, the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from greenkfp.components._shared.errors import InputError

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

DEFAULT_NUMERIC_DRIFT_THRESHOLD = 0.1  # approximate Jensen-Shannon divergence
DEFAULT_CATEGORICAL_DRIFT_THRESHOLD = 0.1  # L-infinity distance of value frequencies


@dataclass
class DriftThresholds:
    """Thresholds of the drift (or skew) comparators.

    Attributes:
        numeric: Jensen-Shannon divergence threshold for numeric features.
        categorical: L-infinity distance threshold for categorical features.
        per_feature: Overrides by feature name.
    """

    numeric: float = DEFAULT_NUMERIC_DRIFT_THRESHOLD
    categorical: float = DEFAULT_CATEGORICAL_DRIFT_THRESHOLD
    per_feature: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in [("numeric", self.numeric), ("categorical", self.categorical)]:
            if not 0.0 < value <= 1.0:
                raise InputError(f"{name} drift threshold must be in (0, 1], got {value}")
        for name, value in self.per_feature.items():
            if not 0.0 < float(value) <= 1.0:
                raise InputError(
                    f"drift threshold for feature {name!r} must be in (0, 1], got {value}"
                )


def is_numeric_feature(feature: schema_pb2.Feature) -> bool:
    """Whether a schema feature is compared as numbers (an INT or FLOAT, not categorical)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    categorical = feature.HasField("int_domain") and feature.int_domain.is_categorical
    return feature.type in (schema_pb2.INT, schema_pb2.FLOAT) and not categorical


def set_comparators(
    schema: schema_pb2.Schema, thresholds: DriftThresholds, comparator_field: str
) -> None:
    """Sets every feature's ``drift_comparator`` or ``skew_comparator`` threshold.

    Raises:
        InputError: When a per-feature threshold names a feature the schema lacks.
    """
    unknown = sorted(set(thresholds.per_feature) - {f.name for f in schema.feature})
    if unknown:
        raise InputError(f"drift thresholds name feature(s) not in the schema: {unknown}")
    for feature in schema.feature:
        comparator = getattr(feature, comparator_field)
        if is_numeric_feature(feature):
            value = thresholds.per_feature.get(feature.name, thresholds.numeric)
            comparator.jensen_shannon_divergence.threshold = float(value)
        else:
            value = thresholds.per_feature.get(feature.name, thresholds.categorical)
            comparator.infinity_norm.threshold = float(value)


def measurements(
    proto: anomalies_pb2.Anomalies, kind: str = "drift"
) -> tuple[dict[str, float], dict[str, float]]:
    """Reads the largest ``drift`` (or ``skew``) measurement per feature and its threshold.

    Returns:
        ``(value by feature, threshold by feature)``.
    """
    values: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    for info in proto.drift_skew_info:
        name = ".".join(info.path.step)
        for m in getattr(info, f"{kind}_measurements"):
            values[name] = max(values.get(name, 0.0), m.value)
            thresholds[name] = m.threshold
    return values, thresholds


def measure_drift(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    baseline: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    thresholds: DriftThresholds,
) -> tuple[dict[str, float], dict[str, float]]:
    """Measures drift of ``stats`` against ``baseline`` for every feature of ``schema``.

    Returns:
        ``(distance by feature, threshold by feature)``: Jensen-Shannon divergence for
        numeric features, L-infinity distance for categorical ones.
    """
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    checked = schema_pb2.Schema()
    checked.CopyFrom(schema)
    set_comparators(checked, thresholds, "drift_comparator")
    proto = tfdv.validate_statistics(stats, checked, previous_statistics=baseline)
    return measurements(proto, "drift")
