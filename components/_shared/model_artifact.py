"""The model artifact contract: the files a trained or compressed model folder holds.

Training writes these files, compression, fairness and deployment read them. They live
here, not in any one family, so that no family imports another (DESIGN.md, principle 11).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.tf_setup import import_tf_keras

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

SAVED_MODEL_DIRNAME = "saved_model"
"""SavedModel folder inside a trained model (serving signature on raw features)."""

SAVED_MODEL_PB = "saved_model.pb"
"""The graph file that marks a folder as a SavedModel."""

KERAS_FILENAME = "keras_model.keras"
"""The tf_keras model beside the SavedModel, for fine-tuning and compression."""

METADATA_FILENAME = "model_metadata.json"
"""Label, positive class, feature lists and facts of a trained model."""

SERVING_SIGNATURE = "serving_default"
SCORES_OUTPUT = "scores"

FEATURES_LAYER = "features"
"""Name of the layer where preprocessing ends and the compressible core begins."""

PREPROCESS_TFLITE = "preprocess.tflite"
"""Exact float32 TFLite stage: raw feature values to the encoded feature vector."""

CORE_TFLITE = "model.tflite"
"""The compressed core network as TFLite: encoded features to the score."""

COMPRESSED_MANIFEST = "compressed_model.json"
"""Manifest of a compressed model folder: its stages, method and metadata."""

MANIFEST_REQUIRED_KEYS = ("preprocess", "model", "inputs")
"""Keys every compressed manifest holds: the two stage files and the raw inputs' dtypes."""


def _write_json(model_dir: str, filename: str, content: dict[str, Any]) -> str:
    path = os.path.join(model_dir, filename)
    with open(path, "w") as f:
        json.dump(content, f, indent=2, sort_keys=True)
    return path


def write_metadata(model_dir: str, metadata: dict[str, Any]) -> str:
    """Writes ``model_metadata.json`` into a model folder and returns its path."""
    return _write_json(model_dir, METADATA_FILENAME, metadata)


def load_metadata(model_dir: str) -> dict[str, Any]:
    """Reads ``model_metadata.json`` from a trained model folder.

    Raises:
        InputError: When the folder holds no metadata file.
    """
    file = os.path.join(model_dir, METADATA_FILENAME)
    if not os.path.exists(file):
        raise InputError(f"no model metadata at {file}")
    with open(file) as f:
        return json.load(f)


def load_keras_model(path: str) -> tf_keras.Model:
    """Loads the tf_keras model of a trained model folder (uncompiled).

    Args:
        path: A trained model folder (holding ``keras_model.keras``), or the file itself.

    Raises:
        InputError: When no model file is there.
    """
    file = os.path.join(path, KERAS_FILENAME) if os.path.isdir(path) else path
    if not os.path.exists(file):
        raise InputError(f"no Keras model at {file}")
    return import_tf_keras().models.load_model(file, compile=False)


def saved_model_dir(model_path: str) -> str:
    """Returns the SavedModel folder of a model folder, or raises naming what is there.

    Args:
        model_path: A SavedModel folder itself (a registry version, TF Serving's layout),
            or a folder holding ``saved_model/`` (a ``train_model`` output).

    Raises:
        InputError: When neither is there.
    """
    if os.path.isfile(os.path.join(model_path, SAVED_MODEL_PB)):
        return model_path
    nested = os.path.join(model_path, SAVED_MODEL_DIRNAME)
    if os.path.isdir(nested):
        return nested
    raise InputError(
        f"{model_path} holds neither {COMPRESSED_MANIFEST} nor {SAVED_MODEL_DIRNAME}/ nor "
        f"{SAVED_MODEL_PB}: not a model written by train_model or compress_model"
    )


def write_manifest(model_dir: str, manifest: dict[str, Any]) -> str:
    """Writes ``compressed_model.json`` into a compressed model folder; returns its path."""
    return _write_json(model_dir, COMPRESSED_MANIFEST, manifest)


def read_manifest(model_dir: str) -> dict[str, Any]:
    """Reads ``compressed_model.json`` of a compressed model folder.

    Raises:
        InputError: When the file is missing, not JSON, or lacks a required key.
    """
    path = os.path.join(model_dir, COMPRESSED_MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise InputError(f"no {COMPRESSED_MANIFEST} in {model_dir}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON: {err}") from err
    missing = [k for k in MANIFEST_REQUIRED_KEYS if k not in manifest]
    if missing:
        raise InputError(f"{path} lacks {missing}")
    return manifest


def is_compressed(model_dir: str) -> bool:
    """Tells whether a folder is a ``compress_model`` output (it holds the manifest)."""
    return os.path.exists(os.path.join(model_dir, COMPRESSED_MANIFEST))
