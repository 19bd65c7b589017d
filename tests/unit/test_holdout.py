import numpy as np
import pytest

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.holdout import carve_validation


def test_split_partitions_rows_keeps_class_balance_and_is_seeded():
    labels = np.array([1] * 300 + [0] * 700)
    train, val = carve_validation(labels, fraction=0.2, seed=3)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(1000))
    assert len(val) == 200 and labels[val].sum() == 60
    again, val_again = carve_validation(labels, fraction=0.2, seed=3)
    assert np.array_equal(val, val_again) and np.array_equal(train, again)
    assert not np.array_equal(val, carve_validation(labels, fraction=0.2, seed=4)[1])


def test_cap_bounds_validation_rows_proportionally():
    labels = np.array([1] * 3000 + [0] * 7000)
    _, val = carve_validation(labels, fraction=0.1, seed=0, max_rows=100)
    assert len(val) == 100 and labels[val].sum() == 30


@pytest.mark.parametrize("kwargs", [{"fraction": 0.0}, {"fraction": 0.6}, {"max_rows": 0}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(InputError):
        carve_validation(np.array([0, 1, 0, 1]), **kwargs)
