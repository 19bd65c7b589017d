"""Stand-in artifacts for calling a component's ``.python_func`` without kfp.local.

Real ``kfp.dsl`` artifact objects on local URIs: ``.path`` is the URI, ``.metadata`` a dict,
exactly what the KFP executor hands a component, without a pipeline, a launcher or a
subprocess (kubeflow/pipelines-components tests its components the same way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class StandIns:
    """Makes output artifacts under one step folder, and input artifacts from files."""

    def __init__(self, root: Path, step: str = "step") -> None:
        self.step_dir = Path(root) / step
        self.step_dir.mkdir(parents=True, exist_ok=True)

    def output(self, kind: type, name: str) -> Any:
        """An output artifact of ``kind`` (``dsl.Model``, ``dsl.Metrics``, ...) named ``name``."""
        return kind(name=name, uri=str(self.step_dir / name), metadata={})

    @staticmethod
    def input(kind: type, path: str | Path, metadata: dict | None = None, name: str = "") -> Any:
        """An input artifact of ``kind`` at ``path`` with the upstream step's metadata."""
        path = Path(path)
        return kind(name=name or path.name, uri=str(path), metadata=dict(metadata or {}))

    @classmethod
    def passed_on(cls, artifact: Any) -> Any:
        """The same artifact as the next step receives it (a copy: uri and metadata)."""
        return cls.input(type(artifact), artifact.path, artifact.metadata, artifact.name)
