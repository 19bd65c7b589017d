"""Run a compressed model: raw rows -> preprocessing TFLite stage -> compressed core TFLite.

A ``compress_model`` output folder holds ``preprocess.tflite`` (float32, exact
preprocessing), ``model.tflite`` (the compressed core) and ``compressed_model.json``,
which names the raw inputs and their types. Only the TFLite interpreter is needed.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components.compression.predict import COMPRESSED_MANIFEST

PREPROCESS_FILE = "preprocess.tflite"
CORE_FILE = "model.tflite"


class TFLiteStage:
    """One TFLite model behind a signature runner, fed named arrays of any batch size."""

    def __init__(self, content: bytes, num_threads: Optional[int] = None) -> None:
        """Loads a flatbuffer; raises :class:`InputError` when it is not a valid model."""
        import tensorflow as tf

        try:
            self.interpreter = tf.lite.Interpreter(model_content=content, num_threads=num_threads)
            signatures = self.interpreter.get_signature_list()
            self.signature = next(iter(signatures))
            self.runner = self.interpreter.get_signature_runner(self.signature)
        except (ValueError, RuntimeError, StopIteration) as err:
            raise InputError(f"not a loadable TFLite model: {err}") from err
        details = self.runner.get_input_details()
        self.input_names = sorted(details)
        self.input_dtypes = {name: d["dtype"] for name, d in details.items()}
        self.output_name = next(iter(self.runner.get_output_details()))

    def __call__(self, **inputs: np.ndarray) -> np.ndarray:
        """Runs the model; arrays carry the batch on their first axis."""
        return self.runner(**inputs)[self.output_name]


class CompressedModel:
    """Two TFLite stages with the raw inputs they take: raw DataFrame rows in, scores out."""

    def __init__(
        self,
        preprocess: bytes,
        core: bytes,
        inputs: dict[str, str],
        num_threads: Optional[int] = None,
    ) -> None:
        """Loads both stages.

        Args:
            preprocess: The preprocessing stage (raw named inputs -> encoded vector).
            core: The (compressed) core (encoded vector -> scores).
            inputs: Raw input names and their dtypes (``"float32"``, ``"string"``).
            num_threads: Interpreter threads; ``None`` lets TFLite choose.

        Raises:
            InputError: When a stage does not load.
        """
        self.preprocess = TFLiteStage(preprocess, num_threads=num_threads)
        self.core = TFLiteStage(core, num_threads=num_threads)
        self.inputs = dict(inputs)
        self._core_input = self.core.input_names[0]

    @classmethod
    def load(cls, model_dir: str, num_threads: Optional[int] = None) -> CompressedModel:
        """Loads a ``compress_model`` output folder."""
        manifest = read_manifest(model_dir)
        return cls(
            _read(model_dir, manifest["preprocess"]),
            _read(model_dir, manifest["model"]),
            manifest["inputs"],
            num_threads=num_threads,
        )

    def to_inputs(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """Turns raw rows into the preprocessing stage's named ``(n, 1)`` arrays."""
        import tensorflow as tf

        from greenkfp.components.training.trainer import frame_to_inputs

        specs = [(name, tf.as_dtype(dtype), (None, 1)) for name, dtype in self.inputs.items()]
        return frame_to_inputs(df, specs)

    def predict_inputs(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Scores arrays from :meth:`to_inputs` (or one row sliced from them)."""
        encoded = self.preprocess(**inputs).astype(np.float32)
        scores = self.core(**{self._core_input: encoded})
        return np.asarray(scores, dtype=np.float32).reshape(-1)

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        """Scores raw feature rows; returns one float32 score per row."""
        if len(df) == 0:
            return np.zeros((0,), dtype=np.float32)
        return self.predict_inputs(self.to_inputs(df))


def read_manifest(model_dir: str) -> dict[str, Any]:
    """Reads ``compressed_model.json`` of a compressed model folder."""
    path = os.path.join(model_dir, COMPRESSED_MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise InputError(f"no {COMPRESSED_MANIFEST} in {model_dir}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON: {err}") from err
    missing = [k for k in ("preprocess", "model", "inputs") if k not in manifest]
    if missing:
        raise InputError(f"{path} lacks {missing}")
    return manifest


def _read(model_dir: str, name: str) -> bytes:
    path = os.path.join(model_dir, name)
    if not os.path.isfile(path):
        raise InputError(f"compressed model file {path} is missing")
    with open(path, "rb") as f:
        return f.read()


def load_compressed_predictor(model_dir: str) -> CompressedModel:
    """Loads a compressed model folder as a predictor (see ``predict.load_predictor``)."""
    return CompressedModel.load(model_dir)
