"""Feature attributions of a served model: permutation importance on its predict function.

Why permutation importance: it runs on the predictor every step already uses
(:func:`greenkfp.components._shared.predictor.load_predictor`), so it explains exactly
what ships, the TFLite model included, where integrated gradients would need the Keras
graph (the compressed model has none) and SHAP a background set and many more calls.
It costs ``features x repeats`` scorings of the rows (a few hundred milliseconds for
the credit data), and it works on raw columns, categorical ones included.

A feature's importance is the mean drop of the model's ROC AUC when that column alone is
shuffled (Breiman 2001; scikit-learn's ``permutation_importance``), over ``repeats``
seeded shuffles, with the standard deviation over them. Per slice (a sensitive feature's
values), the same is computed on each slice's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import pandas as pd

from greenkfp.components._shared.binary_metrics import roc_auc
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.sampling import bounded_sample

Predictor = Callable[[pd.DataFrame], np.ndarray]


@dataclass
class Importance:
    """One feature's importance: the mean AUC drop when it is shuffled, and its spread."""

    feature: str
    mean: float
    std: float

    def to_dict(self) -> dict[str, float | str]:
        """The JSON form."""
        return {"feature": self.feature, "auc_drop": self.mean, "std": self.std}


@dataclass
class Attributions:
    """Global and per-slice importances, most important first."""

    method: str
    baseline_auc: float
    rows: int
    repeats: int
    global_: list[Importance]
    slices: dict[str, dict[str, list[Importance]]] = field(default_factory=dict)

    def top(self, n: int = 5) -> list[str]:
        """The names of the ``n`` most important features."""
        return [imp.feature for imp in self.global_[:n]]

    def to_dict(self) -> dict:
        """The JSON form (``attributions.json`` in a registry version)."""
        return {
            "method": self.method,
            "baseline_auc": self.baseline_auc,
            "rows": self.rows,
            "repeats": self.repeats,
            "global": [imp.to_dict() for imp in self.global_],
            "slices": {
                feature: {value: [imp.to_dict() for imp in imps] for value, imps in values.items()}
                for feature, values in self.slices.items()
            },
        }


def _importances(
    predict: Predictor,
    df: pd.DataFrame,
    labels: np.ndarray,
    features: Sequence[str],
    repeats: int,
    seed: int,
) -> tuple[float, list[Importance]]:
    baseline = roc_auc(labels, predict(df))
    rng = np.random.default_rng(seed)
    found = []
    for feature in features:
        drops = []
        for _ in range(repeats):
            shuffled = df.copy()
            shuffled[feature] = df[feature].to_numpy()[rng.permutation(len(df))]
            drops.append(baseline - roc_auc(labels, predict(shuffled)))
        found.append(Importance(feature, float(np.mean(drops)), float(np.std(drops))))
    found.sort(key=lambda imp: (-imp.mean if np.isfinite(imp.mean) else np.inf, imp.feature))
    return baseline, found


def permutation_importance(
    predict: Predictor,
    df: pd.DataFrame,
    labels: np.ndarray,
    features: Sequence[str],
    *,
    repeats: int = 3,
    seed: int = 0,
    slice_by: Sequence[str] = (),
    min_slice_rows: int = 30,
) -> Attributions:
    """Ranks features by how much shuffling each lowers the model's ROC AUC.

    Args:
        predict: Raw rows in, one score per row out (the served predictor).
        df: The rows to explain (eval data; the label column may stay in it).
        labels: 0/1 per row.
        features: The model's input columns to rank.
        repeats: Seeded shuffles per feature.
        seed: The shuffles' seed.
        slice_by: Sensitive features: importances are also computed per value.
        min_slice_rows: Slices with fewer rows, or with one class only, are left out.

    Raises:
        InputError: A feature is not a column, no features, or the rows hold one class.
    """
    labels = np.asarray(labels).astype(int).ravel()
    missing = [f for f in [*features, *slice_by] if f not in df.columns]
    if missing:
        raise InputError(f"attribution features {missing} are not columns of the data")
    if not features:
        raise InputError("no features to attribute")
    if len(set(labels.tolist())) != 2 or len(labels) != len(df):
        raise InputError("attributions need one 0/1 label per row, both classes present")
    df = df.reset_index(drop=True)
    baseline, global_ = _importances(predict, df, labels, features, repeats, seed)
    slices: dict[str, dict[str, list[Importance]]] = {}
    for sensitive in slice_by:
        for value, rows in df.groupby(df[sensitive].astype(str)).groups.items():
            index = np.asarray(rows)
            if len(index) < min_slice_rows or len(set(labels[index].tolist())) != 2:
                continue
            part = df.loc[index].reset_index(drop=True)
            _, ranked = _importances(predict, part, labels[index], features, repeats, seed)
            slices.setdefault(sensitive, {})[str(value)] = ranked
    return Attributions(
        method=f"permutation importance (ROC AUC drop, {repeats} seeded shuffles)",
        baseline_auc=float(baseline),
        rows=len(df),
        repeats=repeats,
        global_=global_,
        slices=slices,
    )


def explain_model(
    predict: Predictor,
    df: pd.DataFrame,
    labels: np.ndarray,
    features: Sequence[str],
    *,
    max_rows: int = 1000,
    slice_by: Optional[Sequence[str]] = None,
) -> Attributions:
    """:func:`permutation_importance` on at most ``max_rows`` seeded rows (deploy time)."""
    if len(df) > max_rows:
        picked = bounded_sample(len(df), max_rows, seed=0)
        df, labels = df.iloc[picked], np.asarray(labels)[picked]
    return permutation_importance(predict, df, labels, features, slice_by=slice_by or ())
