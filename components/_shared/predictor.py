"""The library's one prediction function: raw feature rows in, scores out.

Every step that scores data with a model (compression's evaluation, fairness
evaluation, deployment's canary check) goes through :func:`load_predictor` or
:func:`predict_scores`, so they all score exactly what ships. A model folder holding
per-group decision thresholds (``group_thresholds.json``, fairness mitigation) is
scored with them applied, everywhere.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
import pandas as pd

from greenkfp.components._shared import group_thresholds
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_artifact import is_compressed, saved_model_dir
from greenkfp.components._shared.saved_model import predict_scores_saved_model
from greenkfp.components._shared.tf_setup import import_tensorflow
from greenkfp.components._shared.tflite_runtime import load_compressed_predictor

Predictor = Callable[[pd.DataFrame], np.ndarray]


def load_predictor(model_path: str) -> Predictor:
    """Loads a model artifact once and returns a function that scores raw rows.

    Args:
        model_path: A local folder written by ``train_model`` (holds ``saved_model/``),
            by ``compress_model`` (holds ``compressed_model.json`` and ``.tflite`` files),
            or a SavedModel folder itself (a registry version, TF Serving's layout).

    Returns:
        A function taking a DataFrame of raw feature rows (extra columns such as the
        label are ignored) and returning 1-D float32 scores, one per row. When the
        folder holds ``group_thresholds.json``, the scores are mapped so that each
        group's threshold lands on the operating one (see ``_shared/group_thresholds``);
        the rows must then hold the sensitive feature.

    Raises:
        InputError: When the folder holds no model this library wrote, or it cannot load.
    """
    if not os.path.isdir(model_path):
        raise InputError(f"model folder {model_path} does not exist")
    thresholds = group_thresholds.read(model_path)
    if is_compressed(model_path):
        predictor = load_compressed_predictor(model_path)
    else:
        predictor = _saved_model_predictor(model_path)
    return group_thresholds.wrap(predictor, thresholds) if thresholds else predictor


def predict_scores(model_path: str, df: pd.DataFrame) -> np.ndarray:
    """Scores raw feature rows with a model artifact; see :func:`load_predictor`."""
    return load_predictor(model_path)(df)


def _saved_model_predictor(model_path: str) -> Predictor:
    folder = saved_model_dir(model_path)
    try:
        loaded = import_tensorflow().saved_model.load(folder)
    except Exception as err:  # corrupt or foreign SavedModel
        raise InputError(f"cannot load the SavedModel in {folder}: {err}") from err

    def predict(df: pd.DataFrame) -> np.ndarray:
        if len(df) == 0:
            return np.zeros((0,), dtype=np.float32)
        scores = predict_scores_saved_model(loaded, df)
        return np.asarray(scores, dtype=np.float32).reshape(-1)

    return predict
