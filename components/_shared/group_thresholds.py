"""Per-group decision thresholds that travel with a model: ``group_thresholds.json``.

The fairness mitigation step may choose a decision threshold per group of one sensitive
feature (post-processing). They are stored next to the model and applied by
:func:`greenkfp.components._shared.predictor.load_predictor`, so evaluation, fairness,
the canary check, the registry and ``greenkfp serve`` all score the mitigated model.

They are applied to the scores, not to the decisions: each group's scores are mapped,
monotonically and piecewise linearly, so that the group's threshold lands on the
operating threshold. A row is then positive (score above the operating threshold, as
TFMA counts) exactly when its raw score is above its group's threshold; ranking within a
group is kept, and the scores stay probabilities in [0, 1]. Such a model needs the
sensitive feature at prediction time.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.sensitive_groups import group_values

GROUP_THRESHOLDS_FILE = "group_thresholds.json"
"""File beside a model (in its folder, or a registry version's root) holding the thresholds."""

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class GroupThresholds:
    """Decision thresholds per group of one sensitive feature.

    Attributes:
        feature: The sensitive feature (a column the rows must hold).
        thresholds: Threshold per group value (as ``sensitive_groups.group_values`` names
            it), each strictly between 0 and 1.
        operating_threshold: The threshold every consumer applies to the mapped scores
            (the policy's ``fairness_threshold``).
        boundaries: Bucket boundaries of a numeric feature; empty for a categorical one.
        criterion: What the thresholds equalize, e.g. ``equal opportunity``.
        chosen_on: Which rows they were chosen on.
    """

    feature: str
    thresholds: dict[str, float]
    operating_threshold: float = 0.5
    boundaries: tuple[float, ...] = ()
    criterion: str = ""
    chosen_on: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in [("operating_threshold", self.operating_threshold)] + [
            (f"thresholds[{g!r}]", t) for g, t in self.thresholds.items()
        ]:
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value < 1):
                raise InputError(
                    f"{GROUP_THRESHOLDS_FILE}: {name} must be strictly between 0 and 1, "
                    f"got {value!r}"
                )
        if not self.feature:
            raise InputError(f"{GROUP_THRESHOLDS_FILE}: names no sensitive feature")

    def threshold_of(self, group: str) -> float:
        """A group's threshold; a group not seen when choosing keeps the operating one."""
        return float(self.thresholds.get(group, self.operating_threshold))

    def to_dict(self) -> dict[str, Any]:
        """Returns the file's content."""
        data = asdict(self)
        data["boundaries"] = list(self.boundaries)
        return {"schema_version": SCHEMA_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = GROUP_THRESHOLDS_FILE) -> GroupThresholds:
        """Reads the file's content back, or raises naming what is wrong."""
        try:
            return cls(
                feature=str(data["feature"]),
                thresholds={str(k): float(v) for k, v in dict(data["thresholds"]).items()},
                operating_threshold=float(data.get("operating_threshold", 0.5)),
                boundaries=tuple(float(b) for b in data.get("boundaries") or ()),
                criterion=str(data.get("criterion", "")),
                chosen_on=str(data.get("chosen_on", "")),
                extra=dict(data.get("extra") or {}),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{where} is malformed: {err!r}") from err

    def groups(self, df: pd.DataFrame) -> np.ndarray:
        """Each row's group, or a clear error when the rows lack the sensitive feature."""
        if self.feature not in df.columns:
            raise InputError(
                f"this model applies per-group decision thresholds by {self.feature!r} "
                f"({GROUP_THRESHOLDS_FILE}, fairness mitigation): every row to score must hold "
                f"the sensitive feature {self.feature!r}; columns given: {list(df.columns)}"
            )
        return group_values(df[self.feature].reset_index(drop=True), self.boundaries or None)

    def row_thresholds(self, df: pd.DataFrame) -> np.ndarray:
        """Each row's decision threshold (its group's)."""
        return np.array([self.threshold_of(g) for g in self.groups(df)], dtype=np.float64)

    def apply(self, scores: np.ndarray, df: pd.DataFrame) -> np.ndarray:
        """Maps raw scores so that each group's threshold lands on the operating one."""
        return map_scores(scores, self.row_thresholds(df), self.operating_threshold)


def map_scores(scores: np.ndarray, thresholds: np.ndarray, operating: float) -> np.ndarray:
    """Maps each score piecewise linearly: its threshold to ``operating``, 0 to 0, 1 to 1.

    So ``mapped > operating`` exactly when ``score > threshold``, order within equal
    thresholds is kept, and the result stays in [0, 1].
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    t = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    below = s * (operating / t)
    above = operating + (s - t) * ((1.0 - operating) / (1.0 - t))
    mapped = np.where(s <= t, below, above)
    # Keep the decision exact despite rounding: positive exactly when score > threshold.
    mapped = np.where(s > t, np.maximum(mapped, np.nextafter(operating, 1.0)), mapped)
    mapped = np.where(s <= t, np.minimum(mapped, operating), mapped)
    return np.clip(mapped, 0.0, 1.0).astype(np.float32)


def path_in(model_path: str) -> str:
    """The thresholds file's path in a model folder (it may not exist)."""
    return os.path.join(model_path, GROUP_THRESHOLDS_FILE)


def read(model_path: str) -> Optional[GroupThresholds]:
    """Reads a model folder's thresholds; None when it has none."""
    path = path_in(model_path)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            data = json.load(f)
    except ValueError as err:
        raise InputError(f"{path} is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise InputError(f"{path} must hold a JSON object")
    return GroupThresholds.from_dict(data, path)


def write(model_path: str, thresholds: GroupThresholds) -> str:
    """Writes the thresholds into a model folder; returns the file's path."""
    path = path_in(model_path)
    with open(path, "w") as f:
        json.dump(thresholds.to_dict(), f, indent=2, sort_keys=True)
    return path


def wrap(
    predictor: Callable[[pd.DataFrame], np.ndarray], thresholds: GroupThresholds
) -> Callable[[pd.DataFrame], np.ndarray]:
    """A predictor that applies the thresholds to another one's scores."""

    def predict(df: pd.DataFrame) -> np.ndarray:
        row_thresholds = thresholds.row_thresholds(df)  # fails first when the feature is absent
        return map_scores(predictor(df), row_thresholds, thresholds.operating_threshold)

    return predict
