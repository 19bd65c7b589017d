"""Run a compressed model: raw rows -> preprocessing TFLite stage -> compressed core TFLite.

A ``compress_model`` output folder holds ``preprocess.tflite`` (float32, exact
preprocessing), ``model.tflite`` (the compressed core) and ``compressed_model.json``,
which names the raw inputs and their types. Only the TFLite interpreter is needed.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_artifact import read_manifest
from greenkfp.components._shared.model_inputs import frame_to_inputs
from greenkfp.components._shared.tf_setup import import_tensorflow

#: Rows per interpreter call when scoring many rows (:meth:`CompressedModel.predict_batched`).
PREDICT_BATCH_ROWS = 8192


class TFLiteStage:
    """One TFLite model fed named arrays of any batch size.

    Tensors are set and read by index on the interpreter itself: a signature runner
    re-allocates tensors on every call, and that makes XNNPACK repack int8 weights each
    time (measured 6x slower at batch 1). Tensors are re-allocated only when the batch
    size changes.
    """

    def __init__(self, content: bytes, num_threads: Optional[int] = None) -> None:
        """Loads a flatbuffer; raises :class:`InputError` when it is not a valid model."""
        tf = import_tensorflow()
        try:
            self.interpreter = tf.lite.Interpreter(model_content=content, num_threads=num_threads)
            runner = self.interpreter.get_signature_runner(
                next(iter(self.interpreter.get_signature_list()))
            )
            inputs = runner.get_input_details()
            outputs = runner.get_output_details()
            del runner  # it holds tensor buffers, which allocate_tensors must not find
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError, StopIteration) as err:
            raise InputError(f"not a loadable TFLite model: {err}") from err
        self.input_names = sorted(inputs)
        self._inputs = {name: (d["index"], list(d["shape"][1:])) for name, d in inputs.items()}
        self._output = next(iter(outputs.values()))["index"]
        self._batch = int(next(iter(inputs.values()))["shape"][0])

    def __call__(self, **inputs: np.ndarray) -> np.ndarray:
        """Runs the model; arrays carry the batch on their first axis."""
        batch = len(next(iter(inputs.values())))
        if batch != self._batch:
            for index, rest in self._inputs.values():
                self.interpreter.resize_tensor_input(index, [batch, *rest])
            self.interpreter.allocate_tensors()
            self._batch = batch
        for name, value in inputs.items():
            self.interpreter.set_tensor(self._inputs[name][0], value)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output)


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
        tf = import_tensorflow()
        specs = [(name, tf.as_dtype(dtype), (None, 1)) for name, dtype in self.inputs.items()]
        return frame_to_inputs(df, specs)

    def predict_inputs(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Scores arrays from :meth:`to_inputs` (or one row sliced from them)."""
        encoded = self.preprocess(**inputs).astype(np.float32)
        scores = self.core(**{self._core_input: encoded})
        return np.asarray(scores, dtype=np.float32).reshape(-1)

    def predict_batched(
        self, inputs: dict[str, np.ndarray], batch_rows: int = PREDICT_BATCH_ROWS
    ) -> np.ndarray:
        """Scores arrays from :meth:`to_inputs` ``batch_rows`` rows at a time.

        The interpreter's tensors hold one batch, not every row, so memory does not grow
        with the number of rows scored.
        """
        n = len(next(iter(inputs.values()))) if inputs else 0
        if n <= batch_rows:
            return self.predict_inputs(inputs)
        parts = [
            self.predict_inputs(
                {name: values[i : i + batch_rows] for name, values in inputs.items()}
            )
            for i in range(0, n, batch_rows)
        ]
        return np.concatenate(parts)

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        """Scores raw feature rows; returns one float32 score per row."""
        if len(df) == 0:
            return np.zeros((0,), dtype=np.float32)
        return self.predict_batched(self.to_inputs(df))


def _read(model_dir: str, name: str) -> bytes:
    path = os.path.join(model_dir, name)
    if not os.path.isfile(path):
        raise InputError(f"compressed model file {path} is missing")
    with open(path, "rb") as f:
        return f.read()


def load_compressed_predictor(model_dir: str) -> CompressedModel:
    """Loads a compressed model folder as a predictor (see ``predictor.load_predictor``)."""
    return CompressedModel.load(model_dir)
