"""Bounded seeded row samples (``_shared.sampling``)."""

import numpy as np
import pytest

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.sampling import bounded_sample


def test_a_sample_is_bounded_seeded_and_drawn_from_the_positions():
    positions = np.arange(0, 200_000, 2)  # every other row: 100,000 positions
    first = bounded_sample(positions, 5_000, seed=3)
    assert len(first) == 5_000 and len(set(first.tolist())) == 5_000
    assert np.isin(first, positions).all() and (np.diff(first) > 0).all()
    np.testing.assert_array_equal(first, bounded_sample(positions, 5_000, seed=3))
    assert not np.array_equal(first, bounded_sample(positions, 5_000, seed=4))
    # Spread over the whole range, not its head.
    assert first.max() > 150_000


def test_few_rows_are_all_kept_in_order_and_a_bad_cap_is_refused():
    np.testing.assert_array_equal(bounded_sample(7, 10, seed=0), np.arange(7))
    np.testing.assert_array_equal(bounded_sample(np.array([9, 2, 5]), 3, seed=0), [9, 2, 5])
    for cap in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="cap must be a positive integer"):
            bounded_sample(10, cap, seed=0)
