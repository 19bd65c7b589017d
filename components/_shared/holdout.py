"""Validation rows carved from the training data, never from the evaluation set.

Early stopping, mitigation thresholds and any other choice made while building a model
are made on these rows; the evaluation set stays untouched until evaluation, so the
figures the gate judges are not chosen on the rows they are reported on.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from greenkfp.components._shared.errors import InputError


def carve_validation(
    labels: np.ndarray,
    fraction: float = 0.1,
    seed: int = 0,
    max_rows: Optional[int] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Splits row positions into training and validation, stratified by label and seeded.

    Each class gives ``fraction`` of its rows (at least one when it has two or more), so
    the validation rows keep the training data's class balance; ``max_rows`` caps the
    validation rows (scaled down per class in the same proportion), the rest stay in
    training. The same labels, fraction and seed always give the same split.

    Args:
        labels: The encoded labels (one per row, any hashable values).
        fraction: Share of each class held out, in (0, 0.5].
        seed: Seed of the shuffle.
        max_rows: Most validation rows; no cap when ``None``.

    Returns:
        ``(train_positions, validation_positions)``: sorted int arrays that partition
        ``range(len(labels))``.

    Raises:
        InputError: For a fraction outside (0, 0.5], a cap below 1, or fewer than two rows.
    """
    if not 0.0 < fraction <= 0.5:
        raise InputError(f"validation fraction must be in (0, 0.5], got {fraction}")
    if max_rows is not None and max_rows < 1:
        raise InputError(f"validation max_rows must be at least 1, got {max_rows}")
    labels = np.asarray(labels)
    n = len(labels)
    if n < 2:
        raise InputError(f"need at least 2 training rows to carve validation rows, got {n}")
    wanted = n * fraction if max_rows is None else min(n * fraction, max_rows)
    scale = wanted / (n * fraction)
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for value in sorted(set(labels.tolist()), key=str):
        positions = np.flatnonzero(labels == value)
        if len(positions) < 2:
            continue
        take = max(1, int(round(len(positions) * fraction * scale)))
        held.append(rng.permutation(positions)[:take])
    validation = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
    if len(validation) == 0:
        validation = np.array([int(rng.integers(n))])
    mask = np.ones(n, dtype=bool)
    mask[validation] = False
    return np.flatnonzero(mask), validation


def training_carve(
    labels: np.ndarray, metadata: dict[str, Any], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The training step's split of the training rows into fitting and validation rows.

    Compression and fairness mitigation make their choices on the same validation rows
    the trainer held out for early stopping.

    Reads the carve's settings from the model's metadata (``hparams``); a model trained
    before training carved validation rows gets the defaults and ``seed``.
    """
    hparams = metadata.get("hparams") or {}
    return carve_validation(
        labels,
        float(hparams.get("validation_fraction", 0.1)),
        int(hparams.get("seed", seed)),
        int(hparams.get("max_validation_rows", 10_000)),
    )
