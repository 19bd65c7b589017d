"""What a registry version serves: ``serving.json``, the one artifact the gate judged.

``deploy_model`` writes ``serving.json`` into every version it pushes; the canary check,
the KServe manifest and ``greenkfp serve`` all follow it. Two formats:

- ``tflite_pair``: a ``compress_model`` output; ``preprocess.tflite`` (raw rows -> encoded
  features) and ``model.tflite`` (the compressed core), run by the TFLite interpreter
  through :mod:`greenkfp.components._shared.tflite_runtime`. No SavedModel sits beside
  them, so no runtime can pick up a model the gate did not judge.
- ``saved_model``: a ``train_model`` output deployed as it is; the SavedModel at the
  version root, which TF Serving reads.

Versions pushed before ``serving.json`` existed are read by what they hold (the
compressed manifest means a TFLite pair).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_artifact import (
    CORE_TFLITE,
    PREPROCESS_TFLITE,
    SAVED_MODEL_PB,
    is_compressed,
    load_metadata,
    read_manifest,
)
from greenkfp.components._shared.model_inputs import input_name

SERVING_FILE = "serving.json"
TFLITE_PAIR = "tflite_pair"
SAVED_MODEL = "saved_model"
FORMATS = (TFLITE_PAIR, SAVED_MODEL)
RUNTIMES = {
    TFLITE_PAIR: "greenkfp serve (TFLite interpreter; KServe custom predictor)",
    SAVED_MODEL: "TF Serving (KServe tensorflow runtime) or greenkfp serve",
}


@dataclass
class ServingSpec:
    """The served artifact of a version.

    Attributes:
        format: ``tflite_pair`` or ``saved_model``.
        files: The files (relative to the version) that make the served model.
        inputs: Raw model input names and their dtypes (``float32``, ``string``).
        label_column: The label the model predicts (scores are its positive class's).
        positive_label: The class a score is the probability of.
        runtime: What serves it (for people reading the version; default by format).
    """

    format: str
    files: list[str]
    inputs: dict[str, str]
    label_column: str = ""
    positive_label: Any = None
    runtime: str = ""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InputError(f"serving format {self.format!r} is not one of {list(FORMATS)}")
        if not self.runtime:
            self.runtime = RUNTIMES[self.format]

    def to_json(self) -> str:
        """The ``serving.json`` text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, record: Any, name: str = SERVING_FILE) -> ServingSpec:
        """Builds a spec from ``serving.json``'s content; raises naming the bad field."""
        if not isinstance(record, dict):
            raise InputError(f"{name} is not a JSON object")
        for key, kind in (("format", str), ("files", list), ("inputs", dict)):
            if not isinstance(record.get(key), kind):
                raise InputError(f"{name}: field {key!r} is missing or not a {kind.__name__}")
        return cls(
            format=record["format"],
            files=[str(f) for f in record["files"]],
            inputs={str(k): str(v) for k, v in record["inputs"].items()},
            label_column=str(record.get("label_column", "")),
            positive_label=record.get("positive_label"),
            runtime=str(record.get("runtime", "")),
        )


def spec_for_model_dir(model_dir: str) -> ServingSpec:
    """The spec of a model artifact about to be pushed (or of a version folder).

    A compressed model is served as its TFLite pair (what compression's evaluation,
    fairness and the gate judged); a trained model as its SavedModel.

    Raises:
        InputError: When the folder holds neither.
    """
    if is_compressed(model_dir):
        manifest = read_manifest(model_dir)
        return ServingSpec(
            format=TFLITE_PAIR,
            files=[
                str(manifest.get("preprocess", PREPROCESS_TFLITE)),
                str(manifest.get("model", CORE_TFLITE)),
            ],
            inputs=dict(manifest["inputs"]),
            label_column=str(manifest.get("label_column", "")),
            positive_label=manifest.get("positive_label"),
        )
    metadata = load_metadata(model_dir)
    inputs = {input_name(c): "float32" for c in metadata.get("numeric_features", [])}
    inputs.update({input_name(c): "string" for c in metadata.get("categorical_features", [])})
    return ServingSpec(
        format=SAVED_MODEL,
        files=[SAVED_MODEL_PB],
        inputs=dict(sorted(inputs.items())),
        label_column=str(metadata.get("label_column", "")),
        positive_label=metadata.get("positive_label"),
    )


def read_serving_spec(version_dir: str) -> ServingSpec:
    """Reads a local version folder's ``serving.json`` (or infers it for older versions).

    Raises:
        InputError: When ``serving.json`` is malformed or names a file the folder lacks.
    """
    path = os.path.join(version_dir, SERVING_FILE)
    if os.path.exists(path):
        try:
            with open(path) as f:
                spec = ServingSpec.from_dict(json.load(f), name=path)
        except ValueError as err:
            raise InputError(f"{path} is not JSON: {err}") from err
    else:
        spec = spec_for_model_dir(version_dir)
    missing = [f for f in spec.files if not os.path.isfile(os.path.join(version_dir, f))]
    if missing:
        raise InputError(f"{version_dir} lacks {missing}, which {SERVING_FILE} serves")
    return spec
