"""greenkfp's KFP components. Importing them needs only ``kfp``.

Components load on first use (PEP 562): inside a running component, kfp sets
``_KFP_RUNTIME=true`` and ``kfp.dsl`` has no ``component`` decorator, so the logic
modules must be importable without the component definitions.
"""

from importlib import import_module
from typing import Any

_MODULES = {
    "import_csv": "data_validation",
    "generate_statistics": "data_validation",
    "infer_schema": "data_validation",
    "validate_data": "data_validation",
    "train_model": "training",
    "compress_model": "compression",
    "evaluate_fairness": "fairness",
    "mitigate_fairness": "mitigation",
    "evaluate_gate": "deployment",
    "deploy_model": "deployment",
    "decide_retraining": "continuous_training",
    "sustainability_report": "sustainability",
}

__all__ = [*_MODULES, "ALL_COMPONENTS"]


def __getattr__(name: str) -> Any:
    if name == "ALL_COMPONENTS":
        return {n: __getattr__(n) for n in _MODULES}
    if name in _MODULES:
        return getattr(import_module(f"greenkfp.components.{_MODULES[name]}.component"), name)
    raise AttributeError(f"module 'greenkfp.components' has no attribute {name!r}")
