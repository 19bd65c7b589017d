"""greenkfp: Kubeflow Pipelines components for sustainable MLOps."""

__version__ = "0.1.0"
