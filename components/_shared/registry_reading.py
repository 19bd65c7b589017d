"""Reading a model registry: its live version and the files each version keeps.

The deployment family writes the registry (``components/deployment/registry.py``); the
gate and the continuous training decision read it. Layout::

    <base>/<model>/LIVE          the live version's number
    <base>/<model>/<N>/          a version; complete only with its _COMPLETE marker
        serving.json             the served artifact and its format (serving_spec.py)
        metrics.json             the evaluation metrics the gate judged, per source
        train_statistics.pb      TFDV statistics of the training data
        schema.pbtxt             the TFDV schema the model was trained with
        drift_reference.csv      a seeded sample of the training data's numeric features
        pipeline_energy.json     the energy the pipeline spent to produce it, per step
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError

LIVE_FILE = "LIVE"
COMPLETE_MARKER = "_COMPLETE"
METRICS_FILE = "metrics.json"
TRAIN_STATISTICS_FILE = "train_statistics.pb"
SCHEMA_FILE = "schema.pbtxt"
DRIFT_REFERENCE_FILE = "drift_reference.csv"
PIPELINE_ENERGY_FILE = "pipeline_energy.json"
ATTRIBUTIONS_FILE = "attributions.json"
"""Permutation importance of a version on the eval rows, global and per sensitive slice."""

# An InferenceService name: a DNS-1035 label (lower case, starts with a letter).
MODEL_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
VERSION = re.compile(r"^[0-9]+$")


class RegistryError(InputError):
    """The registry cannot be written or read as asked (the message names the URI)."""


def validate_model_name(name: str) -> str:
    """Returns the name when it can be a folder and an InferenceService name, else raises."""
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise InputError(
            f"model name {name!r} is not valid: use lower-case letters, digits and '-', "
            "starting with a letter (at most 63 characters; it names the InferenceService)"
        )
    return name


@dataclass
class VersionInfo:
    """A complete version of a model."""

    version: int
    uri: str
    live: bool
    completed_at: str = ""
    files: dict[str, str] = field(default_factory=dict)


class RegistryReader:
    """A registry at a base URI (local path, ``file://``, ``gs://`` or other gfile scheme)."""

    def __init__(self, base_uri: str) -> None:
        if not base_uri or not str(base_uri).strip():
            raise InputError("registry URI is empty")
        base = str(base_uri)
        if base.startswith("file://"):
            base = base[len("file://") :]
        self.base_uri = base.rstrip("/") or "/"
        self.local = uri_io.is_local(base)

    def model_uri(self, model: str) -> str:
        """Returns ``<base>/<model>``."""
        return uri_io.join(self.base_uri, validate_model_name(model))

    def version_uri(self, model: str, version: int) -> str:
        """Returns ``<base>/<model>/<version>``."""
        return uri_io.join(self.model_uri(model), str(int(version)))

    def models(self) -> list[str]:
        """Returns the names of models with at least one complete version, sorted."""
        names = []
        for name in sorted(uri_io.listdir(self.base_uri)):
            if MODEL_NAME.match(name) and self.versions(name):
                names.append(name)
        return names

    def _numbered(self, model: str) -> list[int]:
        """Every numbered entry under the model, complete or not."""
        return sorted(int(n) for n in uri_io.listdir(self.model_uri(model)) if VERSION.match(n))

    def is_complete(self, model: str, version: int) -> bool:
        """Tells whether a version holds its completion marker."""
        return uri_io.exists(uri_io.join(self.version_uri(model, version), COMPLETE_MARKER))

    def versions(self, model: str) -> list[VersionInfo]:
        """Returns the complete versions of a model, oldest first."""
        live = self.live_version(model, check=False)
        found = []
        for version in self._numbered(model):
            marker = uri_io.join(self.version_uri(model, version), COMPLETE_MARKER)
            if not uri_io.exists(marker):
                continue
            try:
                record = json.loads(uri_io.read_bytes(marker))
            except (ValueError, OSError):
                record = {}
            found.append(
                VersionInfo(
                    version=version,
                    uri=self.version_uri(model, version),
                    live=version == live,
                    completed_at=str(record.get("completed_at", "")),
                    files=dict(record.get("files", {})),
                )
            )
        return found

    def live_version(self, model: str, check: bool = True) -> Optional[int]:
        """Returns the live version, or None when nothing is live.

        Args:
            model: The model name.
            check: Raise when LIVE is unreadable or names an incomplete version.
        """
        path = uri_io.join(self.model_uri(model), LIVE_FILE)
        if not uri_io.exists(path):
            return None
        text = uri_io.read_bytes(path).decode("utf-8", "replace").strip()
        if not VERSION.match(text):
            if check:
                raise RegistryError(f"{path} holds {text[:40]!r}, not a version number")
            return None
        version = int(text)
        if check and not self.is_complete(model, version):
            raise RegistryError(f"{path} names version {version}, which is not complete")
        return version

    def has_file(self, model: str, version: int, name: str) -> bool:
        """Tells whether a version holds a file."""
        return uri_io.exists(uri_io.join(self.version_uri(model, version), name))

    def read_file(self, model: str, version: int, name: str) -> bytes:
        """Reads a file of a complete version."""
        if not self.is_complete(model, version):
            raise RegistryError(f"{self.version_uri(model, version)} is not a complete version")
        path = uri_io.join(self.version_uri(model, version), name)
        if not uri_io.exists(path):
            raise RegistryError(f"{path} does not exist")
        return uri_io.read_bytes(path)

    def read_json(self, model: str, version: int, name: str) -> Any:
        """Reads a JSON file of a complete version.

        Raises:
            RegistryError: When it is missing or not JSON (the message names the file).
        """
        data = self.read_file(model, version, name)
        try:
            return json.loads(data)
        except ValueError as err:
            raise RegistryError(
                f"{self.version_uri(model, version)}/{name} is not JSON: {err}"
            ) from err

    def read_metrics(self, model: str, version: int) -> dict[str, Any]:
        """Reads a version's ``metrics.json``."""
        return self.read_json(model, version, METRICS_FILE)

    @contextlib.contextmanager
    def local_copy(self, uri: str) -> Iterator[str]:
        """A local folder holding ``uri``'s files: the folder itself on a local registry."""
        if self.local:
            yield uri
            return
        with tempfile.TemporaryDirectory(prefix="greenkfp-registry-") as tmp:
            uri_io.download(uri, tmp)
            yield tmp
