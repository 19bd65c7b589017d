"""The end-to-end pipeline: validate, train, compress, evaluate fairness, gate, deploy, report."""

import json
from typing import Any, Dict, List

from kfp import dsl

from greenkfp.pipelines._steps import (
    DEFAULT_MISSING_VALUES,
    TrainingResources,
    add_data_validation,
    add_release,
    add_training,
    training_hyperparameters,
)

PIPELINE_NAME = "sustainable-training-pipeline"

#: The gate's policy when none is given. Quality: AUC, and what compression may cost in
#: accuracy. Fairness: equal opportunity, the false negative rate gap (qualified
#: applicants refused) per sensitive feature. Energy: training emissions and serving
#: energy budgets. Champion/challenger: no regression against the live model.
#: One line of JSON, because kfp copies parameter defaults into the YAML's header
#: comment as they are, and a multi-line default breaks the file (kubeflow/pipelines#10438).
DEFAULT_POLICY = json.dumps(
    {
        "min_auc": 0.7,
        "max_accuracy_drop_vs_base": 0.03,
        "max_fairness_gap": {"false_negative_rate": 0.15},
        "max_training_emissions_kg": 0.01,
        "max_inference_energy_kwh_per_1k": 0.0001,
        "max_p95_latency_ms": 50,
        "min_improvement_vs_live": -0.01,
    }
)


def build_sustainable_training_pipeline(
    **resources: Any,
) -> Any:
    """Builds the end-to-end pipeline with the training task's resources set.

    Resources are fixed when the pipeline is compiled, as KFP requires.

    Args:
        **resources: The training task's resources, by the field names of
            ``_steps.TrainingResources`` (``cpu_limit="4"``, ``accelerator_type=...``).

    Returns:
        The ``@dsl.pipeline``.
    """
    training_resources = TrainingResources(**resources)

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description=(
            "Validates CSV data (TFDV statistics, schema, drift), trains a Keras 2 tabular "
            "classifier with its energy metered, compresses it (pruning, quantization, "
            "TFLite), evaluates quality and fairness of the compressed model against the "
            "uncompressed one, gates it on quality, fairness and energy budgets, deploys "
            "a blessed model to a versioned registry, and reports energy and carbon of "
            "every step."
        ),
    )
    def sustainable_training_pipeline(
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
        schema_uri: str = "",
        reference_statistics_uri: str = "",
        numeric_drift_threshold: float = 0.1,
        categorical_drift_threshold: float = 0.1,
        fail_on: str = "anomalies",
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
        """Validates, trains, compresses, checks fairness, gates, deploys and reports.

        Args:
            data_uri: CSV of training data, or of all data when eval_data_uri is empty.
            eval_data_uri: CSV of evaluation data; empty makes a seeded split.
            label_column: The label column (default: the embedded German Credit data's).
            positive_label: Label value of the positive class ("1", "yes", ">50K", ...).
            sensitive_features: Columns to slice fairness on.
            feature_buckets: Boundaries of numeric sensitive features.
            delimiter: CSV field separator.
            missing_values: Strings that mean a missing value.
            trim_whitespace: Strip spaces around values.
            eval_fraction: Share of rows for evaluation when splitting.
            split_seed: Seed of the split.
            categorical_features: Integer columns that hold categories.
            schema_uri: A curated TFDV schema (text proto); empty infers one.
            reference_statistics_uri: Statistics of earlier data to measure drift against,
                besides the training data; empty: none.
            numeric_drift_threshold: Jensen-Shannon divergence threshold.
            categorical_drift_threshold: L-infinity distance threshold.
            fail_on: "anomalies", "drift" or "never".
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
            registry_uri: Model registry (local folder or gs://); empty: a registry inside
                the deploy step's own output.
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
        checked = add_data_validation(
            data_uri=data_uri,
            eval_data_uri=eval_data_uri,
            label_column=label_column,
            delimiter=delimiter,
            missing_values=missing_values,
            trim_whitespace=trim_whitespace,
            eval_fraction=eval_fraction,
            split_seed=split_seed,
            categorical_features=categorical_features,
            required_columns=[label_column],
            numeric_drift_threshold=numeric_drift_threshold,
            categorical_drift_threshold=categorical_drift_threshold,
            fail_on=fail_on,
            beam_pipeline_args=beam_pipeline_args,
            schema_uri=schema_uri,
            reference_statistics_uri=reference_statistics_uri,
            encoding=encoding,
            mixed_numeric=mixed_numeric,
            **energy,
        )
        training = add_training(
            data=checked.data,
            schema=checked.schema,
            after=checked.validation,
            label_column=label_column,
            positive_label=positive_label,
            hyperparameters=training_hyperparameters(locals()),
            **energy,
            resources=training_resources,
            policy=policy,
        )
        add_release(
            data=checked.data,
            train_statistics=checked.train_statistics,
            schema=checked.schema,
            training=training,
            upstream_metrics={
                "import_metrics": checked.data.outputs["metrics"],
                "train_statistics_metrics": checked.train_statistics.outputs["metrics"],
                "eval_statistics_metrics": checked.eval_statistics.outputs["metrics"],
                "schema_metrics": checked.schema.outputs["metrics"],
                "validation_metrics": checked.validation.outputs["metrics"],
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
            gate_name="Gate: quality, fairness and energy budgets",
            energy=energy,
            skip={},
            deploy_inputs={},
        )

    return sustainable_training_pipeline


sustainable_training_pipeline = build_sustainable_training_pipeline()
