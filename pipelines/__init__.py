"""greenkfp's ready pipelines. Importing or compiling them needs only ``kfp``."""

from greenkfp.pipelines.continuous_training import (
    build_continuous_training_pipeline,
    continuous_training_pipeline,
    continuous_training_pipeline_conditional,
)
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
    "continuous_training_pipeline": continuous_training_pipeline,
    "continuous_training_pipeline_conditional": continuous_training_pipeline_conditional,
}

#: Pipelines that only a cluster runs: they use dsl.If, which kfp.local 2.13 refuses.
CLUSTER_ONLY_PIPELINES = frozenset({"continuous_training_pipeline_conditional"})

__all__ = [
    *ALL_PIPELINES,
    "ALL_PIPELINES",
    "CLUSTER_ONLY_PIPELINES",
    "build_training_pipeline",
    "build_sustainable_training_pipeline",
    "build_continuous_training_pipeline",
]
