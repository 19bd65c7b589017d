"""Bounded, seeded samples of rows: work whose cost need not grow with the data's size.

Steps that fine-tune, calibrate or time a model on "some rows" (compression's fine-tuning
and serving measurements, deploy-time attributions) draw those rows here, so that the
work stays bounded at any data size and the same data and seed give the same rows.
Figures a gate judges are never computed on such a sample.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from greenkfp.components._shared.errors import InputError


def bounded_sample(positions: Union[int, np.ndarray], max_rows: int, seed: int) -> np.ndarray:
    """At most ``max_rows`` of ``positions``, drawn without replacement, seeded, in order.

    Args:
        positions: Row positions to draw from, or a row count ``n`` for ``range(n)``.
        max_rows: The most rows returned; all positions when there are no more.
        seed: Seed of the draw: the same positions, cap and seed give the same rows.

    Returns:
        An int64 array, a subset of ``positions`` in their order (all of them when
        there are at most ``max_rows``).

    Raises:
        InputError: For a cap below 1.
    """
    if isinstance(max_rows, bool) or int(max_rows) != max_rows or max_rows < 1:
        raise InputError(f"a row sample's cap must be a positive integer, got {max_rows!r}")
    pool = np.arange(positions) if np.isscalar(positions) else np.asarray(positions)
    pool = pool.astype(np.int64, copy=False)
    if len(pool) <= max_rows:
        return pool
    picked = np.random.default_rng(seed).choice(len(pool), size=int(max_rows), replace=False)
    return pool[np.sort(picked)]
