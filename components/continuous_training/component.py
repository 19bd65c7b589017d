"""KFP component that decides whether a continuous training run retrains. A thin wrapper."""

from typing import Dict, List, NamedTuple, Optional

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Output

from greenkfp.components._shared.image import component_image

IMAGE = component_image()


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def decide_retraining(
    statistics: Input[Artifact],
    dataset: Input[Dataset],
    decision: Output[Artifact],
    report: Output[HTML],
    metrics: Output[Metrics],
    model_name: str,
    registry_uri: str = "",
    eval_dataset: Optional[Input[Dataset]] = None,
    label_column: str = "",
    positive_label: str = "1",
    policy: str = "drift_or_quality_drop",
    psi_threshold: float = 0.25,
    ks_p_value: float = 0.01,
    ks_min_statistic: float = 0.1,
    numeric_drift_threshold: float = 0.1,
    categorical_drift_threshold: float = 0.1,
    max_quality_drop: float = 0.02,
    country_iso_code: str = "",
    region: str = "",
    import_metrics: Optional[Input[Metrics]] = None,
    statistics_metrics: Optional[Input[Metrics]] = None,
    sensitive_features: Optional[List[str]] = None,
    feature_buckets: Optional[Dict[str, List[float]]] = None,
) -> NamedTuple("Outputs", [("retrain", bool)]):
    """Decides whether new data calls for retraining the registry's live model.

    Drift: the new data's TFDV statistics against the live version's training statistics
    (Jensen-Shannon for numeric, L-infinity for categorical features), and its numeric
    features against the training sample the version keeps (PSI, two-sample KS).
    Quality: when the new data has labels, the live model's AUC on it against the AUC it
    was deployed with. Nothing live, or a live version that keeps no statistics, means
    retrain. Later steps take the decision and skip their work when it says not to
    retrain; on a cluster, the retrain output also works in dsl.If.

    Args:
        statistics: TFDV statistics of the new data (generate_statistics).
        dataset: The new data the statistics describe.
        decision: JSON record: retrain, every reason with its figure, the drift findings,
            the live model's quality on the new data, the live version's recorded
            pipeline energy; the headline keys in its metadata.
        report: The decision, drift per feature, quality and energy at stake.
        metrics: retrain (1/0), drifted_features, max_psi, max_ks, max_jensen_shannon,
            max_l_infinity, live_auc_on_new_data, quality_drop, live_pipeline_energy_kwh,
            and the energy figures.
        model_name: The model's name in the registry.
        registry_uri: Model registry (local folder or gs://); empty: train.
        eval_dataset: Labelled new data to score the live model on; default: dataset.
        label_column: The label column; quality is measured when the new data has it.
        positive_label: The positive class when the live model records none.
        policy: drift, quality_drop, drift_or_quality_drop or always.
        psi_threshold: A feature drifts when its PSI is above this.
        ks_p_value: A feature drifts by KS when the p-value is below this and ...
        ks_min_statistic: ... the KS statistic is above this.
        numeric_drift_threshold: TFDV Jensen-Shannon divergence threshold.
        categorical_drift_threshold: TFDV L-infinity distance threshold.
        max_quality_drop: Largest drop of the live model's AUC that does not retrain.
        country_iso_code: Grid country (ISO alpha-3) for carbon; empty uses
            GREENKFP_COUNTRY, then USA.
        region: Grid region within the country, optional.
        import_metrics: Metrics of import_csv, and ...
        statistics_metrics: ... of generate_statistics on the new data: the report adds
            their energy to this step's to tell the energy a skip avoids.
        sensitive_features: Features to report the live model's false negative rate
            gap by on the labelled new data, beside the recorded gap (reported, not a
            retrain criterion).
        feature_buckets: Boundaries of numeric sensitive features.

    Returns:
        retrain: Whether the run retrains.
    """
    from collections import namedtuple

    from greenkfp.components._shared import io as uri_io
    from greenkfp.components._shared.metering import metered_step, publish, step_dir
    from greenkfp.components.continuous_training.policy import Thresholds
    from greenkfp.components.continuous_training.report import render_decide_retraining
    from greenkfp.components.continuous_training.task import run_decide_retraining

    thresholds = Thresholds(
        psi=psi_threshold,
        ks_p_value=ks_p_value,
        ks_min_statistic=ks_min_statistic,
        jensen_shannon=numeric_drift_threshold,
        l_infinity=categorical_drift_threshold,
        max_quality_drop=max_quality_drop,
    )
    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        outcome = run_decide_retraining(
            statistics_path=statistics.path,
            dataset_path=dataset.path,
            eval_dataset_path=eval_dataset.path if eval_dataset is not None else "",
            registry_uri=registry_uri,
            model_name=model_name,
            label_column=label_column,
            positive_label=positive_label,
            policy=policy,
            thresholds=thresholds,
            sensitive_features=sensitive_features or [],
            feature_buckets=feature_buckets or {},
        )
    spent_before = sum(
        float(given.metadata.get("energy_kwh", 0.0))
        for given in (import_metrics, statistics_metrics)
        if given is not None
    )
    page = render_decide_retraining(outcome, energy.to_dict(), spent_before)
    uri_io.write_bytes(report.path, page.encode())
    uri_io.write_bytes(decision.path, outcome.record.to_json().encode())
    publish(metrics, energy, decision, outcome.figures, outcome.metadata)
    verdict = "RETRAIN" if outcome.record.retrain else "SKIP"
    print(f"decision: {verdict}; " + "; ".join(outcome.record.reasons))
    return namedtuple("Outputs", ["retrain"])(bool(outcome.record.retrain))
