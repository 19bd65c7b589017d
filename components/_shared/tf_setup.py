"""TensorFlow set up the way every model step needs it: Keras 2, and AutoGraph kept off tf_keras.

TF 2.16 makes Keras 3 the default, but tensorflow-model-optimization and the models this
library saves need Keras 2 (``tf_keras``). ``TF_USE_LEGACY_KERAS=1`` must be set before
TensorFlow is imported (DESIGN.md); it is set here, by :func:`ensure_legacy_keras`, which
the logic calls right before it imports TensorFlow, never when a module is imported.
"""

from __future__ import annotations

import os
from typing import Any

LEGACY_KERAS_ENV = "TF_USE_LEGACY_KERAS"


def ensure_legacy_keras() -> None:
    """Makes ``tf.keras`` mean Keras 2 (``tf_keras``) in this process.

    Call it before the first import of TensorFlow, tf_keras or
    tensorflow-model-optimization; calling it again does nothing more.
    """
    os.environ[LEGACY_KERAS_ENV] = "1"


def import_tensorflow() -> Any:
    """Imports TensorFlow with Keras 2 selected and returns the ``tensorflow`` module."""
    ensure_legacy_keras()
    import tensorflow as tf

    return tf


def import_tf_keras() -> Any:
    """Imports Keras 2 (with TensorFlow set up for it) and returns the ``tf_keras`` module."""
    ensure_legacy_keras()
    import tf_keras

    return tf_keras


def skip_autograph_for_tf_keras() -> bool:
    """Tells AutoGraph not to transpile tf_keras' own code, as TF already skips ``keras``.

    TensorFlow 2.16 lists the ``keras`` package as "do not convert" but not ``tf_keras``
    (the same Keras 2 code under a new name), so the first ``fit`` of a process spends
    about 15 s transpiling Keras internals. Keras code is written to run without
    AutoGraph (that is how it ran as ``keras``); user layers' ``call`` methods are still
    converted. Idempotent; returns whether the rule is in place. Relies on a private TF
    module, so it does nothing when that module is not where TF 2.16 has it.
    """
    ensure_legacy_keras()
    try:
        from tensorflow.python.autograph.core import config, config_lib
    except ImportError:  # pragma: no cover - other TF layouts
        return False
    rules = getattr(config, "CONVERSION_RULES", None)
    if not isinstance(rules, tuple):  # pragma: no cover
        return False
    if not any(
        isinstance(r, config_lib.DoNotConvert) and getattr(r, "_prefix", None) == "tf_keras"
        for r in rules
    ):
        config.CONVERSION_RULES = (config_lib.DoNotConvert("tf_keras"),) + rules
    return True
