"""What the ``decide_retraining`` component does: :func:`run_decide_retraining`.

New data is judged against the registry's live version: drift of its statistics against
the live version's training statistics (TFDV Jensen-Shannon and L-infinity) and of its
numeric features against the kept training sample (PSI, two-sample KS); and, when the new
data has labels, the live model's AUC on it against the AUC it was deployed with. The
policy (:mod:`policy`) turns the measurements into the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.retrain_decision import RetrainDecision
from greenkfp.components.continuous_training import policy as policy_lib
from greenkfp.components.continuous_training.drift import (
    JENSEN_SHANNON,
    KS,
    L_INFINITY,
    PSI,
    DriftFinding,
    numeric_drift,
)
from greenkfp.components.continuous_training.fairness_check import false_negative_rate_gaps
from greenkfp.components.continuous_training.live_version import (
    LiveVersion,
    read_live_version,
)


@dataclass
class DecisionOutcome:
    """The decision and what it was made from.

    Attributes:
        record: The decision record (written as the step's decision artifact).
        model_name: The model judged.
        registry_uri: The registry read ("" when none was given).
        live_uri: The live version's folder ("" when nothing is live).
        energy_by_step: The live version's recorded pipeline energy per step.
        thresholds: The thresholds used.
    """

    record: RetrainDecision
    model_name: str = ""
    registry_uri: str = ""
    live_uri: str = ""
    energy_by_step: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def figures(self) -> dict[str, float]:
        """``retrain`` (1/0), the largest value of each test, the quality and energy figures."""
        record = self.record
        figures = {
            "retrain": float(record.retrain),
            "drifted_features": float(len({d["feature"] for d in record.drift if d["drifted"]})),
        }
        for test in (PSI, KS, JENSEN_SHANNON, L_INFINITY):
            values = [d["value"] for d in record.drift if d["test"] == test]
            if values:
                figures[f"max_{test}"] = float(max(values))
        if record.quality:
            figures["live_auc_on_new_data"] = float(record.quality["on_new_data"])
            figures["quality_drop"] = float(record.quality["drop"])
        if record.live_version is not None:
            figures["live_version"] = float(record.live_version)
        if record.live_pipeline_energy_kwh is not None:
            figures["live_pipeline_energy_kwh"] = float(record.live_pipeline_energy_kwh)
        return figures

    @property
    def metadata(self) -> dict[str, Any]:
        """The decision's metadata keys, for the decision artifact."""
        return self.record.metadata


def _tfdv_findings(
    statistics_path: str, live: LiveVersion, thresholds: policy_lib.Thresholds
) -> list[DriftFinding]:
    from greenkfp.components._shared.registry_reading import SCHEMA_FILE, TRAIN_STATISTICS_FILE
    from greenkfp.components._shared.tfdv_drift import (
        DriftThresholds,
        is_numeric_feature,
        measure_drift,
    )
    from greenkfp.components._shared.tfdv_schema import load_schema
    from greenkfp.components._shared.tfdv_statistics import load_statistics

    live_stats = load_statistics(live.path(TRAIN_STATISTICS_FILE))
    schema = load_schema(live.path(SCHEMA_FILE))
    drift, limits = measure_drift(
        load_statistics(statistics_path),
        live_stats,
        schema,
        DriftThresholds(numeric=thresholds.jensen_shannon, categorical=thresholds.l_infinity),
    )
    numeric = {f.name for f in schema.feature if is_numeric_feature(f)}
    return [
        DriftFinding(
            name,
            JENSEN_SHANNON if name in numeric else L_INFINITY,
            value,
            limits[name],
            value > limits[name],
        )
        for name, value in sorted(drift.items())
    ]


def _read_reference(live: LiveVersion) -> Any:
    from greenkfp.components._shared.registry_reading import DRIFT_REFERENCE_FILE

    path = live.path(DRIFT_REFERENCE_FILE)
    try:
        with uri_io.open_uri(path, "rb") as f:
            import pandas as pd

            return pd.read_csv(f)
    except ValueError as err:
        raise InputError(f"{path} is not a CSV sample of training data: {err}") from err


def _quality(
    eval_path: str,
    live: LiveVersion,
    label_column: str,
    positive_label: str,
    max_drop: float,
    sensitive: tuple[Sequence[str], Mapping[str, Sequence[float]]] = ((), {}),
) -> tuple[dict[str, Any], str]:
    """The live model's AUC (and fairness gaps) on the labelled new data, or why not."""
    from greenkfp.components._shared.binary_metrics import roc_auc
    from greenkfp.components._shared.labels import encode_label
    from greenkfp.components._shared.model_artifact import is_compressed, read_manifest
    from greenkfp.components._shared.predictor import load_predictor

    df = uri_io.read_dataset(eval_path)
    if not label_column or label_column not in df.columns:
        return {}, f"the new data has no label column {label_column!r}"
    recorded = live.recorded_auc()
    if recorded is None:
        return {}, f"version {live.version} recorded no AUC in its metrics.json"
    with live.local_folder() as folder:
        labels = dict(read_manifest(folder)) if is_compressed(folder) else {}
        positive = str(labels.get("positive_label") or positive_label)
        y = encode_label(df[label_column], positive, labels.get("negative_label"))
        scores = load_predictor(folder)(df.drop(columns=[label_column]))
    on_new = float(roc_auc(y, scores))
    if on_new != on_new:  # NaN: one class only
        return {}, f"the new data's labels hold one class only ({len(df)} rows)"
    drop = recorded - on_new
    quality = {
        "metric": "AUC",
        "recorded": recorded,
        "on_new_data": on_new,
        "drop": drop,
        "threshold": max_drop,
        "dropped": drop > max_drop,
        "rows": len(df),
    }
    features, buckets = sensitive
    if features:
        recorded_fairness = live.metrics.get("fairness") or {}
        quality["fairness"] = false_negative_rate_gaps(
            df, y, scores, features, buckets, recorded_fairness
        )
    return quality, ""


def run_decide_retraining(
    *,
    statistics_path: str,
    dataset_path: str,
    eval_dataset_path: str = "",
    registry_uri: str,
    model_name: str,
    label_column: str = "",
    positive_label: str = "1",
    policy: str = policy_lib.EITHER,
    thresholds: Optional[policy_lib.Thresholds] = None,
    sensitive_features: Sequence[str] = (),
    feature_buckets: Optional[Mapping[str, Sequence[float]]] = None,
) -> DecisionOutcome:
    """Decides whether new data calls for retraining the registry's live model.

    Args:
        statistics_path: TFDV statistics of the new data (``generate_statistics``).
        dataset_path: The new data those statistics describe (canonical CSV).
        eval_dataset_path: Labelled new data to score the live model on; empty: the same
            as ``dataset_path``.
        registry_uri: The model registry; empty: nothing is live, so train.
        model_name: The model's name in the registry.
        label_column: The label column (quality is measured when the new data has it).
        positive_label: The positive class, when the live model does not record one.
        policy: ``drift``, ``quality_drop``, ``drift_or_quality_drop`` or ``always``.
        thresholds: What counts as drift and as a quality drop; default
            :class:`~policy.Thresholds`.
        sensitive_features: Features to report the live model's false negative rate
            gap by, on the labelled new data (reported, not a retrain criterion).
        feature_buckets: Boundaries of numeric sensitive features.

    Returns:
        The outcome: the decision with every reason and figure.

    Raises:
        InputError: An unknown policy or bad threshold; corrupt statistics, schema or
            sample in the live version (the message names the file); ``quality_drop``
            without labels.
    """
    policy_lib.check_policy(policy)
    thresholds = thresholds or policy_lib.Thresholds()
    outcome = DecisionOutcome(
        RetrainDecision(retrain=True, policy=policy),
        model_name=model_name,
        registry_uri=registry_uri,
        thresholds=dict(vars(thresholds)),
    )
    record = outcome.record
    if not registry_uri:
        record.reasons = ["no registry given: training a first model"]
        return outcome
    live = read_live_version(registry_uri, model_name)
    if live is None:
        record.reasons = [f"no live version of {model_name!r} in {registry_uri}: training one"]
        return outcome
    outcome.live_uri, outcome.energy_by_step = live.uri, live.energy_by_step
    record.live_version = live.version
    record.live_pipeline_energy_kwh = live.pipeline_energy_kwh
    if policy == policy_lib.ALWAYS:
        record.reasons = policy_lib.decide(policy, [], {})[1]
        return outcome
    findings: list[DriftFinding] = []
    if policy_lib.uses_drift(policy):
        if live.missing:
            missing = ", ".join(live.path(n) for n in live.missing)
            record.reasons = [
                f"live version {live.version} keeps no training statistics to judge drift "
                f"against (missing: {missing}): retraining to record them"
            ]
            return outcome
        findings = _tfdv_findings(statistics_path, live, thresholds)
        current = uri_io.read_dataset(dataset_path)
        reference = _read_reference(live)
        findings += numeric_drift(
            reference,
            current,
            [c for c in reference.columns if c != label_column],
            thresholds.psi,
            thresholds.ks_p_value,
            thresholds.ks_min_statistic,
        )
    quality, missing_why = {}, ""
    if policy_lib.uses_quality(policy):
        quality, missing_why = _quality(
            eval_dataset_path or dataset_path,
            live,
            label_column,
            positive_label,
            thresholds.max_quality_drop,
            (sensitive_features, feature_buckets or {}),
        )
    record.retrain, record.reasons = policy_lib.decide(policy, findings, quality, missing_why)
    record.drift = [f.to_dict() for f in findings]
    record.quality = quality
    return outcome
