"""Split a trained model into its preprocessing stage and the network that gets compressed.

The trained model takes raw features: lookups, normalization and one-hot encoding live
inside it. Those ops must stay exact (a quantized string lookup or normalization is a bug,
not a saving), and TFLite's int8 quantizer would otherwise reach into them. So the model
is cut at the layer named ``features`` (the encoded feature vector): everything before
runs as a float32 TFLite stage, everything after is pruned and quantized.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_artifact import FEATURES_LAYER
from greenkfp.components._shared.model_inputs import frame_to_inputs, model_input_specs
from greenkfp.components._shared.tf_setup import import_tf_keras, skip_autograph_for_tf_keras


def split_model(model: Any) -> tuple[Any, Any]:
    """Cuts a functional Keras model at its ``features`` layer.

    Args:
        model: A ``tf_keras`` functional model with a layer named ``features`` whose
            output is the encoded feature vector (the built-in model has one; a user
            ``build_model`` must name that layer so).

    Returns:
        ``(preprocess, core)``: the raw inputs -> encoded vector model, and the encoded
        vector -> scores model sharing the trained layers.

    Raises:
        InputError: When ``model`` is not a Keras functional model or has no such layer.
    """
    tf_keras = import_tf_keras()
    if not isinstance(model, tf_keras.Model) or not hasattr(model, "get_layer"):
        raise InputError(f"expected a tf_keras model, got {type(model).__name__}")
    try:
        features = model.get_layer(FEATURES_LAYER)
    except ValueError:
        raise InputError(
            f"the model has no layer named {FEATURES_LAYER!r}; compress_model cuts the model "
            "there to keep preprocessing exact. Name the layer that outputs the encoded "
            "feature vector 'features' in build_model (see the compression README)."
        ) from None
    if len(features.output.shape) != 2:
        raise InputError(
            f"layer {FEATURES_LAYER!r} must output a (batch, n) vector, got {features.output.shape}"
        )
    preprocess = tf_keras.Model(model.inputs, features.output, name="preprocess")
    core = tf_keras.Model(features.output, model.output, name="core")
    return preprocess, core


def join_stages(preprocess: Any, core: Any) -> Any:
    """Rebuilds one raw-feature model from a preprocessing stage and a (compressed) core."""
    tf_keras = import_tf_keras()
    return tf_keras.Model(preprocess.inputs, core(preprocess.outputs[0]), name="compressed")


def encode(preprocess: Any, df: pd.DataFrame, batch_size: int = 1024) -> np.ndarray:
    """Runs the preprocessing stage on raw rows and returns float32 encoded vectors."""
    skip_autograph_for_tf_keras()
    x = frame_to_inputs(df, model_input_specs(preprocess))
    return np.asarray(preprocess.predict(x, batch_size=batch_size, verbose=0), dtype=np.float32)
