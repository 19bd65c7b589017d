"""Export of a trained model: the folder that compression, fairness and deployment read.

The file names and the serving signature are the model contract in
``components/_shared`` (``model_artifact``, ``saved_model``); this module writes them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from greenkfp.components._shared.model_artifact import (
    KERAS_FILENAME,
    METADATA_FILENAME,
    SAVED_MODEL_DIRNAME,
    SCORES_OUTPUT,
    SERVING_SIGNATURE,
    write_metadata,
)
from greenkfp.components._shared.model_inputs import model_input_specs
from greenkfp.components._shared.saved_model import write_saved_model
from greenkfp.components._shared.tf_setup import import_tf_keras
from greenkfp.components.training.trainer import TrainResult

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras


@dataclass
class ExportResult:
    """Where :func:`save_model` wrote the model, and how big it is.

    Attributes:
        saved_model_dir: The SavedModel (serving signature on raw features).
        keras_model_path: The Keras 2 model file (``.keras``, without optimizer state).
        metadata_path: JSON facts of the run, or ``""`` when saving a bare model.
        saved_model_bytes: Size of the SavedModel directory.
        keras_model_bytes: Size of the Keras file.
    """

    saved_model_dir: str
    keras_model_path: str
    metadata_path: str
    saved_model_bytes: int
    keras_model_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-friendly dict."""
        return dict(self.__dict__)


def _tree_bytes(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def _uncompiled_copy(model: tf_keras.Model) -> tf_keras.Model:
    """A copy without optimizer and compile state, so the saved file holds the model only."""
    tf_keras = import_tf_keras()
    try:
        copy = tf_keras.Model.from_config(model.get_config())
        copy.set_weights(model.get_weights())
        return copy
    except Exception:  # custom layers without from_config: save the model as it is.
        return model


def save_model(result: Union[TrainResult, tf_keras.Model], output_dir: str) -> ExportResult:
    """Exports a trained model for serving and for compression.

    Writes, under ``output_dir`` (a local path; replaced if present):
    ``saved_model/`` (SavedModel whose ``serving_default`` signature takes the raw
    features as named 1-D tensors and returns ``{"scores": ...}``; also loadable with
    ``tf_keras.models.load_model``), ``keras_model.keras`` (the Keras 2 model, no optimizer
    state) and, for a :class:`TrainResult`, ``model_metadata.json``.

    Args:
        result: A :class:`TrainResult`, or a bare ``tf_keras.Model``.
        output_dir: The directory to write into.

    Returns:
        An :class:`ExportResult` with the paths and their sizes in bytes.
    """
    model = result.model if isinstance(result, TrainResult) else result
    os.makedirs(output_dir, exist_ok=True)
    sm_dir = os.path.join(output_dir, SAVED_MODEL_DIRNAME)
    keras_path = os.path.join(output_dir, KERAS_FILENAME)
    meta_path = os.path.join(output_dir, METADATA_FILENAME)
    for p in (sm_dir, keras_path, meta_path):
        _remove(p)

    write_saved_model(model, sm_dir)
    _uncompiled_copy(model).save(keras_path)
    if isinstance(result, TrainResult):
        meta = result.summary()
        meta["serving"] = {
            "signature": SERVING_SIGNATURE,
            "output": SCORES_OUTPUT,
            "inputs": {n: d.name for n, d, _ in model_input_specs(model)},
        }
        write_metadata(output_dir, meta)
    else:
        meta_path = ""
    return ExportResult(
        saved_model_dir=sm_dir,
        keras_model_path=keras_path,
        metadata_path=meta_path,
        saved_model_bytes=_tree_bytes(sm_dir),
        keras_model_bytes=_tree_bytes(keras_path),
    )
