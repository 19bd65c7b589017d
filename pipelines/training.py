"""The training pipeline: data validation, then energy-metered training."""

from typing import Any, List

from kfp import dsl

from greenkfp.pipelines._steps import (
    DEFAULT_MISSING_VALUES,
    TrainingResources,
    add_data_validation,
    add_training,
    training_hyperparameters,
)

PIPELINE_NAME = "training-pipeline"


def build_training_pipeline(
    **resources: Any,
) -> Any:
    """Builds the training pipeline with the training task's resources set.

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
            "Validates CSV data with TFDV (statistics, schema, drift), then trains a Keras 2 "
            "tabular classifier with its energy and carbon metered."
        ),
    )
    def training_pipeline(
        data_uri: str,
        label_column: str,
        positive_label: str = "1",
        eval_data_uri: str = "",
        delimiter: str = ",",
        missing_values: List[str] = DEFAULT_MISSING_VALUES,
        trim_whitespace: bool = True,
        eval_fraction: float = 0.2,
        split_seed: int = 42,
        categorical_features: List[str] = [],
        numeric_drift_threshold: float = 0.1,
        categorical_drift_threshold: float = 0.1,
        fail_on: str = "anomalies",
        beam_pipeline_args: List[str] = [],
        module_file: str = "",
        epochs: int = 0,
        batch_size: int = 0,
        learning_rate: float = 0.001,
        hidden_units: List[int] = [64, 32],
        dropout: float = 0.1,
        early_stopping_patience: int = 5,
        seed: int = 42,
        country_iso_code: str = "",
        region: str = "",
        encoding: str = "utf-8",
        mixed_numeric: str = "error",
        validation_fraction: float = 0.1,
        max_validation_rows: int = 10000,
        deterministic: bool = True,
        max_training_minutes: float = 0.0,
    ):
        """Validates the data, then trains and meters the model.

        Args:
            data_uri: CSV of training data, or of all data when eval_data_uri is empty.
            label_column: The label column.
            positive_label: Label value of the positive class.
            eval_data_uri: CSV of evaluation data; empty makes a seeded split.
            delimiter: CSV field separator.
            missing_values: Strings that mean a missing value.
            trim_whitespace: Strip spaces around values.
            eval_fraction: Share of rows for evaluation when splitting.
            split_seed: Seed of the split.
            categorical_features: Integer columns that hold categories.
            numeric_drift_threshold: Jensen-Shannon divergence threshold.
            categorical_drift_threshold: L-infinity distance threshold.
            fail_on: "anomalies", "drift" or "never".
            beam_pipeline_args: Beam options for statistics of large data.
            module_file: File with build_model(feature_spec, hparams); empty: built-in model.
            epochs: Maximum epochs; 0 chooses them from the training rows.
            batch_size: Batch size; 0 chooses it from the training rows.
            learning_rate: Adam learning rate.
            hidden_units: Dense layer sizes.
            dropout: Dropout rate.
            early_stopping_patience: Epochs without improvement before stopping.
            seed: Random seed.
            country_iso_code: Grid country (ISO alpha-3) for carbon.
            region: Grid region within the country, optional.
            encoding: Text encoding of the CSV files (a byte order mark overrides it).
            mixed_numeric: A mostly numeric column holding text: "error" or "missing".
            validation_fraction: Share of the training rows carved out (seeded) for early
                stopping; the evaluation rows never serve it.
            max_validation_rows: Most validation rows.
            deterministic: TensorFlow op determinism in training (same seed, same weights).
            max_training_minutes: Training time budget; 0: none.
        """
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
            country_iso_code=country_iso_code,
            region=region,
            encoding=encoding,
            mixed_numeric=mixed_numeric,
        )
        add_training(
            data=checked.data,
            schema=checked.schema,
            after=checked.validation,
            label_column=label_column,
            positive_label=positive_label,
            hyperparameters=training_hyperparameters(locals()),
            country_iso_code=country_iso_code,
            region=region,
            resources=training_resources,
        )

    return training_pipeline


training_pipeline = build_training_pipeline()
