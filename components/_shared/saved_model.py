"""The SavedModel of a model folder: written with one serving signature, scored through it.

The signature takes the raw features as named 1-D tensors (the layout of TF Serving and
KServe row requests) and returns ``{"scores": ...}``. Training and compression write it
with :func:`write_saved_model`; :func:`predict_scores_saved_model` scores raw rows
through it, as a server would.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_artifact import (
    SCORES_OUTPUT,
    SERVING_SIGNATURE,
    saved_model_dir,
)
from greenkfp.components._shared.model_inputs import frame_to_inputs, model_input_specs
from greenkfp.components._shared.tf_setup import import_tensorflow

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras


def serving_function(model: tf_keras.Model) -> Any:
    """Builds the serving ``tf.function``: named raw feature tensors -> ``{"scores": ...}``.

    Each input of shape ``(None, 1)`` is taken as a 1-D tensor (one value per example,
    the layout of TF Serving / KServe row requests) and reshaped for the model; a
    one-unit output is returned as a 1-D ``scores`` tensor.

    Args:
        model: A functional tf_keras model with one named input per raw feature.
    """
    tf = import_tensorflow()

    specs = {}
    rank2 = {}
    for name, dtype, shape in model_input_specs(model):
        rank2[name] = len(shape) == 2 and shape[-1] == 1
        sig_shape = [None] if rank2[name] else [None, *shape[1:]]
        specs[name] = tf.TensorSpec(sig_shape, dtype, name=name)

    @tf.function(input_signature=[specs])
    def serve(features):
        x = {k: (tf.reshape(v, [-1, 1]) if rank2[k] else v) for k, v in features.items()}
        y = model(x, training=False)
        if y.shape.rank == 2 and y.shape[-1] == 1:
            y = tf.reshape(y, [-1])
        return {SCORES_OUTPUT: y}

    return serve


def write_saved_model(model: tf_keras.Model, path: str) -> None:
    """Saves a tf_keras model as a SavedModel with the serving signature, no optimizer state.

    The folder also loads with ``tf_keras.models.load_model``.
    """
    model.save(
        path,
        save_format="tf",
        include_optimizer=False,
        signatures={SERVING_SIGNATURE: serving_function(model)},
    )


def predict_scores_saved_model(
    saved_model: Any, df: pd.DataFrame, signature: str = SERVING_SIGNATURE
) -> np.ndarray:
    """Scores raw DataFrame rows through a SavedModel's serving signature.

    Args:
        saved_model: A SavedModel folder, a folder holding ``saved_model/`` (a
            ``train_model`` output), or an object returned by ``tf.saved_model.load``.
        df: Raw rows with the feature columns.
        signature: The signature to call.

    Returns:
        The ``scores`` output as a numpy array.

    Raises:
        InputError: When no SavedModel is at the path, it lacks the signature, or the
            rows lack a column for one of its inputs.
    """
    tf = import_tensorflow()

    loaded = saved_model
    if isinstance(saved_model, (str, os.PathLike)):
        loaded = tf.saved_model.load(saved_model_dir(os.fspath(saved_model)))
    if signature not in loaded.signatures:
        raise InputError(f"SavedModel has no signature {signature!r}: {list(loaded.signatures)}")
    fn = loaded.signatures[signature]
    kw_specs = fn.structured_input_signature[1]
    specs = [(spec.name or kw, spec.dtype, tuple(spec.shape)) for kw, spec in kw_specs.items()]
    arrays = frame_to_inputs(df, specs)
    kwargs = {
        kw: tf.constant(arrays[spec.name or kw], dtype=spec.dtype) for kw, spec in kw_specs.items()
    }
    return fn(**kwargs)[SCORES_OUTPUT].numpy()
