"""greenkfp's ready pipelines. Importing or compiling them needs only ``kfp``."""

from greenkfp.pipelines.data_validation import data_validation_pipeline
from greenkfp.pipelines.sustainable_training import (
    build_sustainable_training_pipeline,
    sustainable_training_pipeline,
)
from greenkfp.pipelines.training import build_training_pipeline, training_pipeline

ALL_PIPELINES = {
    "data_validation_pipeline": data_validation_pipeline,
    "training_pipeline": training_pipeline,
    "sustainable_training_pipeline": sustainable_training_pipeline,
}

__all__ = [
    *ALL_PIPELINES,
    "ALL_PIPELINES",
    "build_training_pipeline",
    "build_sustainable_training_pipeline",
]
