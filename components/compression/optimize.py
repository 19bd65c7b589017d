"""The compression methods: magnitude pruning, (pruning-preserving) QAT, TFLite conversion.

All of them act on the *core* network (encoded features -> scores, see ``stages``), a
plain stack of Keras 2 layers that tensorflow-model-optimization 0.8 supports.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.tf_setup import (
    ensure_legacy_keras,
    import_tensorflow,
    import_tf_keras,
)
from greenkfp.components.compression.config import DYNAMIC, FLOAT16, INT8


def _fine_tune(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    loss: Any,
    callbacks: list,
    seed: int,
) -> None:
    tf = import_tensorflow()
    tf_keras = import_tf_keras()
    tf_keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate=learning_rate), loss=loss)
    model.fit(
        x, y, epochs=epochs, batch_size=batch_size, shuffle=True, callbacks=callbacks, verbose=0
    )


def prune(
    core: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    sparsity: float,
    schedule: str = "polynomial",
    epochs: int = 4,
    batch_size: int = 32,
    learning_rate: float = 5e-4,
    loss: Any = "binary_crossentropy",
    seed: int = 42,
) -> Any:
    """Magnitude-prunes the core's weights to ``sparsity`` while fine-tuning, then strips.

    Args:
        core: The core Keras model (left unchanged; a pruned copy is returned).
        x: Encoded training features.
        y: Training targets.
        sparsity: Target fraction of zero weights, in [0, 1).
        schedule: ``polynomial`` ramps sparsity from 0 over the first two thirds of the
            fine-tuning; ``constant`` applies it from the first step.
        epochs: Fine-tuning epochs.
        batch_size: Fine-tuning batch size.
        learning_rate: Fine-tuning learning rate.
        loss: The training loss.
        seed: Random seed.

    Returns:
        The pruned model with the pruning wrappers stripped (plain layers, zeros in place).
    """
    ensure_legacy_keras()
    import tensorflow_model_optimization as tfmot

    tf_keras = import_tf_keras()
    sparsity_api = tfmot.sparsity.keras
    steps = max(int(np.ceil(len(x) / batch_size)) * epochs, 1)
    frequency = max(steps // 20, 1)
    if schedule == "constant":
        pruning_schedule = sparsity_api.ConstantSparsity(sparsity, 0, frequency=frequency)
    else:
        end = max(int(steps * 2 / 3), 1)
        pruning_schedule = sparsity_api.PolynomialDecay(0.0, sparsity, 0, end, frequency=frequency)
    copy = tf_keras.models.clone_model(core)
    copy.set_weights(core.get_weights())
    pruned = sparsity_api.prune_low_magnitude(copy, pruning_schedule=pruning_schedule)
    callbacks = [sparsity_api.UpdatePruningStep()]
    _fine_tune(pruned, x, y, epochs, batch_size, learning_rate, loss, callbacks, seed)
    return sparsity_api.strip_pruning(pruned)


def quantization_aware(
    core: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    preserve_sparsity: bool = False,
    epochs: int = 2,
    batch_size: int = 32,
    learning_rate: float = 1e-4,
    loss: Any = "binary_crossentropy",
    seed: int = 42,
) -> Any:
    """Fine-tunes the core with fake quantization so that its int8 conversion loses little.

    Args:
        core: The core Keras model (a pruned one when ``preserve_sparsity``).
        x: Encoded training features.
        y: Training targets.
        preserve_sparsity: Keep pruned zeros at zero (pruning-preserving QAT).
        epochs: Fine-tuning epochs.
        batch_size: Fine-tuning batch size.
        learning_rate: Fine-tuning learning rate.
        loss: The training loss.
        seed: Random seed.

    Returns:
        The quantization-aware model; convert it with :func:`to_tflite` and ``int8``.
    """
    ensure_legacy_keras()
    import tensorflow_model_optimization as tfmot

    annotated = tfmot.quantization.keras.quantize_annotate_model(core)
    if preserve_sparsity:
        scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        model = tfmot.quantization.keras.quantize_apply(annotated, scheme)
    else:
        model = tfmot.quantization.keras.quantize_apply(annotated)
    _fine_tune(model, x, y, epochs, batch_size, learning_rate, loss, [], seed)
    return model


def to_tflite(
    model: Any,
    quantization: Optional[str] = None,
    representative: Optional[np.ndarray] = None,
    optimize: bool = False,
) -> bytes:
    """Converts a Keras model to a TFLite flatbuffer.

    Args:
        model: The Keras model.
        quantization: ``None`` (float32), ``dynamic`` (int8 weights, float activations),
            ``float16`` (float16 weights) or ``int8`` (weights and activations, calibrated
            on ``representative``; float input and output).
        representative: Encoded rows calibrating ``int8``.
        optimize: Apply the default optimizations without a quantization choice (what a
            QAT model needs to become int8).

    Returns:
        The ``.tflite`` bytes.

    Raises:
        InputError: When ``int8`` gets no representative rows.
    """
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantization or optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == INT8:
        rows = check_representative(representative, int(model.input_shape[-1]))

        def samples():
            for i in range(len(rows)):
                yield [rows[i : i + 1]]

        converter.representative_dataset = samples
    elif quantization not in (None, DYNAMIC):
        raise InputError(f"unknown quantization {quantization!r}")
    return converter.convert()


def check_representative(representative: Optional[np.ndarray], width: int) -> np.ndarray:
    """Returns the int8 calibration rows as float32, or names what is wrong with them.

    Args:
        representative: Encoded rows, shape ``(n, width)``.
        width: The core's input width.

    Raises:
        InputError: On no rows, a wrong shape, or values that are not finite numbers.
    """
    if representative is None or len(representative) == 0:
        raise InputError(
            "int8 quantization needs representative data; it is empty (representative_samples "
            "rows are drawn from the train data)"
        )
    try:
        rows = np.asarray(representative, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise InputError(f"representative_samples rows are not numeric: {err}") from None
    if rows.ndim != 2 or rows.shape[1] != width:
        raise InputError(
            f"representative_samples rows must have shape (n, {width}) like the core's input, "
            f"got {rows.shape}"
        )
    bad = int((~np.isfinite(rows)).any(axis=1).sum())
    if bad:
        raise InputError(
            f"representative_samples: {bad} of {len(rows)} calibration rows hold NaN or "
            "infinite values; int8 calibration needs finite encoded features"
        )
    return rows


def weight_sparsity(model: Any) -> float:
    """Fraction of exactly-zero values among a model's kernels (QAT-wrapped ones too)."""
    tf_keras = import_tf_keras()
    zeros = total = 0
    for weight in model.weights:
        if not weight.name.split("/")[-1].startswith("kernel"):
            continue
        values = np.asarray(tf_keras.backend.get_value(weight))
        zeros += int((values == 0).sum())
        total += values.size
    return zeros / total if total else 0.0
