"""User models: a Python file whose ``build_model`` replaces the default network.

A ``module_file`` defines::

    def build_model(feature_spec, hparams):  # optionally a third argument train_df
        ...  # returns a tf_keras.Model with one named input per feature

Inputs are named by :func:`greenkfp.components._shared.model_inputs.input_name` (the
column name for ordinary names), shaped ``(1,)``, float32 for numeric and ``tf.string``
for categorical features, as in the default model. Its output is the task's score layer
(one sigmoid unit for ``binary``). The trainer compiles it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_inputs import model_input_specs
from greenkfp.components._shared.task_head import TaskHead
from greenkfp.components._shared.tf_setup import import_tf_keras
from greenkfp.components.training.model import FeatureSpec, Hyperparameters

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras


def load_build_model_fn(module_file: str) -> Callable:
    """Imports a user module file and returns its ``build_model`` function.

    Raises:
        InputError: When the file is missing, fails to import, or defines no callable
            ``build_model``.
    """
    path = os.fspath(module_file)
    if not os.path.isfile(path):
        raise InputError(f"module_file not found: {path}")
    digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"greenkfp_user_module_{digest}", path)
    if spec is None or spec.loader is None:
        raise InputError(f"module_file {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise InputError(f"module_file {path} failed to import: {type(e).__name__}: {e}") from e
    fn = getattr(module, "build_model", None)
    if fn is None or not callable(fn):
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        raise InputError(
            f"module_file {path} defines no function build_model(feature_spec, hparams); "
            f"it defines: {public}"
        )
    return fn


def check_model_fits(
    model: Any, feature_spec: FeatureSpec, head: TaskHead, source: str = "the model"
) -> None:
    """Checks that a model is a tf_keras model whose inputs and output fit the features.

    Raises:
        InputError: Naming what is wrong: not a ``tf_keras.Model`` (with a hint for Keras 3
            models), missing or extra inputs, an input of the wrong dtype, or an output that
            does not fit the task.
    """
    tf_keras = import_tf_keras()
    if not isinstance(model, tf_keras.Model):
        kind = f"{type(model).__module__}.{type(model).__name__}"
        hint = ""
        if type(model).__module__.split(".")[0] in ("keras", "keras_core"):
            hint = " (a Keras 3 model: build it with `import tf_keras`, not `import keras`)"
        raise InputError(f"{source} returned {kind}, not a tf_keras.Model{hint}")
    specs = model_input_specs(model)
    if not specs:
        raise InputError(
            f"{source} returned a model without defined inputs; build a functional model "
            "with one named tf_keras.Input per feature"
        )
    expected = feature_spec.input_names()  # column -> input name
    got = {name: dtype for name, dtype, _ in specs}
    missing = [n for n in expected.values() if n not in got]
    extra = [n for n in got if n not in expected.values()]
    if missing or extra:
        raise InputError(
            f"{source}: model inputs do not match the features: missing inputs {missing}, "
            f"extra inputs {extra}; expected one input per feature named "
            f"{list(expected.values())}"
        )
    for col in feature_spec.numeric:
        if got[expected[col]].name == "string":
            raise InputError(
                f"{source}: input {expected[col]!r} is tf.string but feature {col!r} is numeric"
            )
    for col in feature_spec.categorical:
        if got[expected[col]].name != "string":
            raise InputError(
                f"{source}: input {expected[col]!r} is {got[expected[col]].name} but feature "
                f"{col!r} is categorical and is fed as tf.string"
            )
    outputs = list(getattr(model, "outputs", None) or [])
    if len(outputs) != 1 or outputs[0].shape[-1] != head.output_units:
        shapes = [tuple(o.shape) for o in outputs]
        raise InputError(
            f"{source}: a {head.task} model needs one output of {head.output_units} unit(s) "
            f"({head.activation}); it has outputs of shapes {shapes}"
        )


def build_user_model(
    module_file: str,
    feature_spec: FeatureSpec,
    hparams: Hyperparameters,
    train_df: pd.DataFrame,
    head: TaskHead,
) -> tf_keras.Model:
    """Builds the model of a user ``module_file`` and checks that it fits the features.

    ``build_model`` gets ``train_df`` too when it takes an argument of that name.

    Raises:
        InputError: When the module or its model does not fit (see :func:`check_model_fits`).
    """
    fn = load_build_model_fn(module_file)
    source = f"build_model in {module_file}"
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    try:
        if "train_df" in params:
            model = fn(feature_spec, hparams, train_df=train_df)
        else:
            model = fn(feature_spec, hparams)
    except InputError:
        raise
    except Exception as e:
        raise InputError(f"{source} raised {type(e).__name__}: {e}") from e
    check_model_fits(model, feature_spec, head, source)
    return model
