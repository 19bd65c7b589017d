"""Validation of statistics against a schema, with drift and train/serving skew."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from greenkfp.components._shared.errors import InputError, ValidationFailed
from greenkfp.components._shared.tfdv_drift import DriftThresholds, measurements, set_comparators

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

FAIL_ON_CHOICES = ("anomalies", "drift", "never")


@dataclass
class Anomaly:
    """One problem found in the data."""

    feature: str
    kind: str
    description: str
    value: Optional[float] = None
    threshold: Optional[float] = None


@dataclass
class ValidationResult:
    """Anomalies and drift and skew measurements."""

    anomalies: list[Anomaly]
    drift: dict[str, float]
    drift_thresholds: dict[str, float]
    skew: dict[str, float]
    skew_thresholds: dict[str, float]
    reference_drift: dict[str, float] = field(default_factory=dict)
    reference_drift_thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def drifted_features(self) -> list[str]:
        """Features whose drift is above its threshold."""
        return sorted(f for f, v in self.drift.items() if v > self.drift_thresholds[f])

    @property
    def reference_drifted_features(self) -> list[str]:
        """Features whose drift against the reference statistics is above its threshold."""
        return sorted(
            f for f, v in self.reference_drift.items() if v > self.reference_drift_thresholds[f]
        )

    @property
    def skewed_features(self) -> list[str]:
        """Features whose train/serving skew is above its threshold."""
        return sorted(f for f, v in self.skew.items() if v > self.skew_thresholds[f])

    @property
    def figures(self) -> dict[str, float]:
        """Counts and largest distances, for the step's Metrics."""
        return {
            "anomaly_count": float(len(self.anomalies)),
            "drifted_feature_count": float(len(self.drifted_features)),
            "max_drift": max(self.drift.values(), default=0.0),
            "skewed_feature_count": float(len(self.skewed_features)),
            "max_skew": max(self.skew.values(), default=0.0),
            "reference_drifted_feature_count": float(len(self.reference_drifted_features)),
            "max_reference_drift": max(self.reference_drift.values(), default=0.0),
        }

    @property
    def metadata(self) -> dict[str, Any]:
        """The features each kind of problem was found in, for the anomalies artifact."""
        return {
            "anomalous_features": sorted({a.feature for a in self.anomalies}),
            "drifted_features": self.drifted_features,
            "skewed_features": self.skewed_features,
            "reference_drifted_features": self.reference_drifted_features,
        }


def validate(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    baseline_stats: Optional[statistics_pb2.DatasetFeatureStatisticsList] = None,
    serving_stats: Optional[statistics_pb2.DatasetFeatureStatisticsList] = None,
    drift: Optional[DriftThresholds] = None,
    skew: Optional[DriftThresholds] = None,
) -> tuple[anomalies_pb2.Anomalies, ValidationResult]:
    """Validates statistics against a schema, a drift baseline and serving data.

    Args:
        stats: Statistics of the data to check.
        schema: The expected schema.
        baseline_stats: Statistics to compare with for drift (for example training data).
        serving_stats: Statistics of serving data, for train/serving skew.
        drift: Drift thresholds; defaults to :class:`DriftThresholds`.
        skew: Skew thresholds; defaults to :class:`DriftThresholds`.

    Returns:
        TFDV's anomalies proto and a readable result.
    """
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    checked = schema_pb2.Schema()
    checked.CopyFrom(schema)
    if baseline_stats is not None:
        set_comparators(checked, drift or DriftThresholds(), "drift_comparator")
    if serving_stats is not None:
        set_comparators(checked, skew or DriftThresholds(), "skew_comparator")
    proto = tfdv.validate_statistics(
        stats, checked, previous_statistics=baseline_stats, serving_statistics=serving_stats
    )
    return proto, _readable(proto)


def _readable(proto: anomalies_pb2.Anomalies) -> ValidationResult:
    drift, drift_thresholds = measurements(proto, "drift")
    skew, skew_thresholds = measurements(proto, "skew")
    anomalies = []
    for name, info in sorted(proto.anomaly_info.items()):
        for reason in info.reason:
            kind = type(info).Type.Name(reason.type)
            measured = drift.get(name) if "COMPARATOR" in kind else None
            anomalies.append(
                Anomaly(
                    feature=name,
                    kind=kind,
                    description=reason.description or info.description,
                    value=measured,
                    threshold=drift_thresholds.get(name) if measured is not None else None,
                )
            )
    if proto.HasField("dataset_anomaly_info"):
        info = proto.dataset_anomaly_info
        for reason in info.reason:
            anomalies.append(
                Anomaly("(dataset)", type(info).Type.Name(reason.type), reason.description)
            )
    return ValidationResult(anomalies, drift, drift_thresholds, skew, skew_thresholds)


def add_reference_drift(
    result: ValidationResult,
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    reference_stats: statistics_pb2.DatasetFeatureStatisticsList,
    drift: Optional[DriftThresholds],
) -> None:
    """Adds drift against a second baseline, and its drift anomalies, to ``result``."""
    _, against_reference = validate(stats, schema, baseline_stats=reference_stats, drift=drift)
    result.reference_drift = against_reference.drift
    result.reference_drift_thresholds = against_reference.drift_thresholds
    for anomaly in against_reference.anomalies:
        if anomaly.value is not None:  # a comparator (drift) anomaly; the rest are known
            anomaly.kind += " (vs reference statistics)"
            result.anomalies.append(anomaly)


def check_fail_on_choice(fail_on: str) -> None:
    """Raises :class:`InputError` unless ``fail_on`` is one of :data:`FAIL_ON_CHOICES`."""
    if fail_on not in FAIL_ON_CHOICES:
        raise InputError(f"fail_on must be one of {list(FAIL_ON_CHOICES)}, got {fail_on!r}")


def check_fail_on(result: ValidationResult, fail_on: str) -> None:
    """Raises :class:`ValidationFailed` naming the features when ``fail_on`` says so.

    Args:
        result: The validation result.
        fail_on: ``anomalies`` (any anomaly, drift included), ``drift`` (drift or
            skew above threshold only) or ``never``.
    """
    check_fail_on_choice(fail_on)
    if fail_on == "never":
        return
    drifted = sorted(
        {*result.drifted_features, *result.skewed_features, *result.reference_drifted_features}
    )
    if fail_on == "drift" and drifted:
        raise ValidationFailed(f"drift or skew above threshold in feature(s): {drifted}")
    if fail_on == "anomalies" and result.anomalies:
        listed = "; ".join(f"{a.feature}: {a.description}" for a in result.anomalies)
        raise ValidationFailed(f"{len(result.anomalies)} anomalies found: {listed}")
