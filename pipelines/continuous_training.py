"""Continuous training: decide from new data and the live model, then retrain only if called for.

Two forms of one pipeline. ``continuous_training_pipeline`` runs everywhere, kfp.local
included (kfp.local 2.13 refuses ``dsl.If``): every step after the decision takes it as
its ``decision`` input and, when it says not to retrain, finishes at once with a
"skipped" status (TFX Pusher's blessing pattern). ``continuous_training_pipeline_conditional``
puts those steps inside ``dsl.If(retrain == True)`` for clusters, where they do not run
at all.
"""

import contextlib
from typing import Any, Dict, List

from kfp import dsl

from greenkfp.components import (
    decide_retraining,
    generate_statistics,
    import_csv,
    infer_schema,
)
from greenkfp.pipelines._steps import (
    DEFAULT_MISSING_VALUES,
    TrainingResources,
    add_release,
    add_training,
    request_resources,
    training_hyperparameters,
)
from greenkfp.pipelines.sustainable_training import DEFAULT_POLICY

PIPELINE_NAME = "continuous-training-pipeline"
CONDITIONAL_PIPELINE_NAME = "continuous-training-pipeline-conditional"
DEFAULT_RETRAIN_POLICY = "drift_or_quality_drop"

DESCRIPTION = (
    "Judges new data against the registry's live model (TFDV Jensen-Shannon and "
    "L-infinity, PSI and KS per numeric feature, the live model's AUC on labelled new "
    "data) and retrains, compresses, evaluates fairness, gates, deploys and reports only "
    "when the retrain policy calls for it; each deployed version keeps its training "
    "statistics, schema, metrics and pipeline energy for the next decision."
)


def build_continuous_training_pipeline(
    conditional: bool = False,
    **resources: Any,
) -> Any:
    """Builds the continuous training pipeline.

    Args:
        conditional: Put the retraining steps inside ``dsl.If`` on the decision's
            ``retrain`` output (for clusters; kfp.local 2.13 refuses it). False: every
            retraining step takes the decision and skips its work when told.
        **resources: The training task's resources, by the field names of
            ``_steps.TrainingResources`` (``cpu_limit="4"``, ``accelerator_type=...``).

    Returns:
        The ``@dsl.pipeline``.
    """
    training_resources = TrainingResources(**resources)

    @dsl.pipeline(
        name=CONDITIONAL_PIPELINE_NAME if conditional else PIPELINE_NAME,
        description=DESCRIPTION,
    )
    def continuous_training_pipeline(
        data_uri: str,
        eval_data_uri: str = "",
        label_column: str = "risk",
        positive_label: str = "1",
        sensitive_features: List[str] = ["sex", "age"],
        feature_buckets: Dict[str, List[float]] = {"age": [25.0, 40.0, 60.0]},
        delimiter: str = ",",
        missing_values: List[str] = DEFAULT_MISSING_VALUES,
        trim_whitespace: bool = True,
        eval_fraction: float = 0.2,
        split_seed: int = 42,
        categorical_features: List[str] = [],
        retrain_policy: str = DEFAULT_RETRAIN_POLICY,
        psi_threshold: float = 0.25,
        ks_p_value: float = 0.01,
        ks_min_statistic: float = 0.1,
        numeric_drift_threshold: float = 0.1,
        categorical_drift_threshold: float = 0.1,
        max_quality_drop: float = 0.02,
        module_file: str = "",
        epochs: int = 0,
        batch_size: int = 0,
        learning_rate: float = 0.001,
        hidden_units: List[int] = [64, 32],
        dropout: float = 0.1,
        early_stopping_patience: int = 5,
        seed: int = 42,
        compression_methods: List[str] = ["auto"],
        sparsity: float = 0.5,
        max_accuracy_drop: float = 0.01,
        max_auc_drop: float = 0.01,
        fairness_thresholds: List[float] = [0.5],
        min_slice_size: int = 20,
        policy: str = DEFAULT_POLICY,
        registry_uri: str = "",
        model_name: str = "greenkfp-model",
        embodied_g_co2eq_per_1k: float = -1.0,
        country_iso_code: str = "",
        region: str = "",
        beam_pipeline_args: List[str] = [],
        encoding: str = "utf-8",
        mixed_numeric: str = "error",
        validation_fraction: float = 0.1,
        max_validation_rows: int = 10000,
        deterministic: bool = True,
        max_training_minutes: float = 0.0,
    ):
        """Decides whether new data calls for retraining; retrains, gates and deploys if so.

        Args:
            data_uri: CSV of new training data, or of all new data when eval_data_uri is empty.
            eval_data_uri: CSV of new evaluation data; empty makes a seeded split.
            label_column: The label column (default: the embedded German Credit data's).
            positive_label: Label value of the positive class.
            sensitive_features: Columns to slice fairness on.
            feature_buckets: Boundaries of numeric sensitive features.
            delimiter: CSV field separator.
            missing_values: Strings that mean a missing value.
            trim_whitespace: Strip spaces around values.
            eval_fraction: Share of rows for evaluation when splitting.
            split_seed: Seed of the split.
            categorical_features: Integer columns that hold categories.
            retrain_policy: drift, quality_drop, drift_or_quality_drop or always.
            psi_threshold: A feature drifts when its PSI is above this.
            ks_p_value: A feature drifts by KS when the p-value is below this and ...
            ks_min_statistic: ... the KS statistic is above this.
            numeric_drift_threshold: TFDV Jensen-Shannon divergence threshold.
            categorical_drift_threshold: TFDV L-infinity distance threshold.
            max_quality_drop: Largest drop of the live model's AUC that does not retrain.
            module_file: File with build_model(feature_spec, hparams); empty: built-in model.
            epochs: Maximum epochs; 0 chooses them from the training rows.
            batch_size: Batch size; 0 chooses it from the training rows.
            learning_rate: Adam learning rate.
            hidden_units: Dense layer sizes.
            dropout: Dropout rate.
            early_stopping_patience: Epochs without improvement before stopping.
            seed: Random seed of training and compression.
            compression_methods: prune, qat, dynamic, int8, float16 in order, or auto.
            sparsity: Pruning target when prune is named.
            max_accuracy_drop: Accuracy loss auto may spend on compression.
            max_auc_drop: AUC loss auto may spend on compression.
            fairness_thresholds: Decision thresholds of the fairness metrics.
            min_slice_size: Smaller slices are reported but not gated.
            policy: The gate's policy (YAML or JSON text); see the deployment README.
            registry_uri: Model registry (local folder or gs://) holding the live model;
                empty: nothing is live, so the run trains.
            model_name: Name in the registry and of the InferenceService.
            embodied_g_co2eq_per_1k: Embodied emissions per 1,000 predictions, if known.
            country_iso_code: Grid country (ISO alpha-3) for carbon.
            region: Grid region within the country, optional.
            beam_pipeline_args: Beam options for TFDV and TFMA on large data.
            encoding: Text encoding of the CSV files (a byte order mark overrides it).
            mixed_numeric: A mostly numeric column holding text: "error" or "missing".
            validation_fraction: Share of the training rows carved out (seeded) for early
                stopping; the evaluation rows never serve it.
            max_validation_rows: Most validation rows.
            deterministic: TensorFlow op determinism in training (same seed, same weights).
            max_training_minutes: Training time budget; 0: none.
        """
        energy = {"country_iso_code": country_iso_code, "region": region}
        data = import_csv(
            data_uri=data_uri,
            eval_data_uri=eval_data_uri,
            label_column=label_column,
            required_columns=[label_column],
            delimiter=delimiter,
            missing_values=missing_values,
            trim_whitespace=trim_whitespace,
            eval_fraction=eval_fraction,
            split_seed=split_seed,
            encoding=encoding,
            mixed_numeric=mixed_numeric,
            **energy,
        ).set_display_name("Import new CSV data")
        train_stats = generate_statistics(
            dataset=data.outputs["train_dataset"], beam_pipeline_args=beam_pipeline_args, **energy
        ).set_display_name("Statistics: new training data")
        decide = decide_retraining(
            statistics=train_stats.outputs["statistics"],
            dataset=data.outputs["train_dataset"],
            eval_dataset=data.outputs["eval_dataset"],
            registry_uri=registry_uri,
            model_name=model_name,
            label_column=label_column,
            positive_label=positive_label,
            policy=retrain_policy,
            psi_threshold=psi_threshold,
            ks_p_value=ks_p_value,
            ks_min_statistic=ks_min_statistic,
            numeric_drift_threshold=numeric_drift_threshold,
            categorical_drift_threshold=categorical_drift_threshold,
            max_quality_drop=max_quality_drop,
            import_metrics=data.outputs["metrics"],
            statistics_metrics=train_stats.outputs["metrics"],
            sensitive_features=sensitive_features,
            feature_buckets=feature_buckets,
            **energy,
        ).set_display_name("Decide: retrain?")
        # The decide step reads the registry's live version: never reuse an old decision.
        decide.set_caching_options(False)
        skip = {} if conditional else {"decision": decide.outputs["decision"]}
        branch = (
            dsl.If(decide.outputs["retrain"] == True, name="retrain")  # noqa: E712
            if conditional
            else contextlib.nullcontext()
        )
        with branch:
            schema = infer_schema(
                statistics=train_stats.outputs["statistics"],
                categorical_features=categorical_features,
                required_columns=[label_column],
                **energy,
                **skip,
            ).set_display_name("Infer schema")
            training = add_training(
                data=data,
                schema=schema,
                label_column=label_column,
                positive_label=positive_label,
                hyperparameters=training_hyperparameters(locals()),
                **energy,
                resources=training_resources,
                policy=policy,
                skip=skip,
            )
            add_release(
                data=data,
                train_statistics=train_stats,
                schema=schema,
                training=training,
                upstream_metrics={
                    "import_metrics": data.outputs["metrics"],
                    "train_statistics_metrics": train_stats.outputs["metrics"],
                    "schema_metrics": schema.outputs["metrics"],
                },
                label_column=label_column,
                positive_label=positive_label,
                sensitive_features=sensitive_features,
                feature_buckets=feature_buckets,
                compression_methods=compression_methods,
                sparsity=sparsity,
                max_accuracy_drop=max_accuracy_drop,
                max_auc_drop=max_auc_drop,
                seed=seed,
                fairness_thresholds=fairness_thresholds,
                min_slice_size=min_slice_size,
                beam_pipeline_args=beam_pipeline_args,
                policy=policy,
                registry_uri=registry_uri,
                model_name=model_name,
                embodied_g_co2eq_per_1k=embodied_g_co2eq_per_1k,
                gate_name="Gate: challenger vs champion, budgets",
                energy=energy,
                skip=skip,
                deploy_inputs={"decision_metrics": decide.outputs["metrics"]},
            )
        for task in (data, train_stats, decide, schema):
            request_resources(task, cpu="1", memory="2G")

    return continuous_training_pipeline


continuous_training_pipeline = build_continuous_training_pipeline()
continuous_training_pipeline_conditional = build_continuous_training_pipeline(conditional=True)
