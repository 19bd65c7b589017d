"""Permutation importance recovers a planted signal on a fitted model (no TensorFlow)."""

import numpy as np
import pandas as pd
import pytest

from greenkfp.components._shared.attribution import explain_model, permutation_importance
from greenkfp.components._shared.errors import InputError


def planted(rows: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``signal`` drives the label, ``weak`` a little, ``noise`` not at all."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "signal": rng.normal(size=rows),
            "weak": rng.normal(size=rows),
            "noise": rng.normal(size=rows),
            "group": rng.choice(["a", "b"], size=rows),
        }
    )
    logit = 3.0 * df["signal"] + 0.7 * df["weak"]
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return df, labels


def fitted_predictor(df: pd.DataFrame, labels: np.ndarray):
    """A logistic regression fitted by gradient descent: it gives noise a small weight too."""
    x = df[["signal", "weak", "noise"]].to_numpy()
    w, b = np.zeros(3), 0.0
    for _ in range(500):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= 0.5 * x.T @ (p - labels) / len(x)
        b -= 0.5 * float(np.mean(p - labels))
    assert w[2] != 0.0

    def predict(rows: pd.DataFrame) -> np.ndarray:
        return 1 / (1 + np.exp(-(rows[["signal", "weak", "noise"]].to_numpy() @ w + b)))

    return predict


def test_planted_signal_ranks_first_and_noise_last_globally_and_per_slice():
    df, labels = planted()
    predict = fitted_predictor(df, labels)
    result = permutation_importance(
        predict, df, labels, ["noise", "signal", "weak"], slice_by=["group"]
    )
    assert result.top(3) == ["signal", "weak", "noise"]
    signal, _, noise = result.global_
    assert signal.mean > 0.2 and abs(noise.mean) < 0.01
    assert result.baseline_auc > 0.8
    for value in ("a", "b"):
        ranked = [imp.feature for imp in result.slices["group"][value]]
        assert ranked[0] == "signal" and ranked[-1] == "noise"
    as_json = result.to_dict()
    assert as_json["global"][0]["feature"] == "signal"
    assert set(as_json["slices"]["group"]) == {"a", "b"}


def test_a_deterministic_sample_and_clear_errors():
    df, labels = planted()
    predict = fitted_predictor(df, labels)
    first = explain_model(predict, df, labels, ["signal", "noise"], max_rows=300)
    again = explain_model(predict, df, labels, ["signal", "noise"], max_rows=300)
    assert first.rows == 300 and first.to_dict() == again.to_dict()
    with pytest.raises(InputError, match=r"\['missing'\] are not columns"):
        permutation_importance(predict, df, labels, ["missing"])
    with pytest.raises(InputError, match="both classes"):
        permutation_importance(predict, df, np.zeros(len(df)), ["signal"])
