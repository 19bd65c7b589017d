"""Canary verification: the pushed copy must score eval rows as the candidate artifact does.

Both sides go through the library's one predict function
(:func:`greenkfp.components._shared.predictor.load_predictor`), so the check loads the
model exactly as every other step does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from greenkfp.components._shared.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_TOLERANCE = 1e-5


class VerificationFailed(RuntimeError):
    """The pushed copy did not load or did not predict what the candidate predicts."""


class CanaryCheck:
    """Scores the canary rows with the candidate now; checks a pushed copy when called.

    Attributes:
        report: Rows scored and the largest absolute difference, filled by a call.
    """

    def __init__(
        self, candidate_dir: str, rows: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE
    ) -> None:
        import numpy as np

        from greenkfp.components._shared.predictor import load_predictor

        if not tolerance >= 0:
            raise InputError(f"canary_tolerance must be >= 0, got {tolerance}")
        self.rows = rows
        self.tolerance = float(tolerance)
        self.expected = np.asarray(load_predictor(candidate_dir)(rows), dtype=np.float64)
        if self.expected.shape != (len(rows),) or not np.all(np.isfinite(self.expected)):
            raise VerificationFailed(
                f"the candidate model in {candidate_dir} gives no finite score per canary row"
            )
        self.report: dict[str, Any] = {"rows": len(rows), "tolerance": self.tolerance}

    def __call__(self, pushed_dir: str) -> None:
        """Loads the pushed copy and compares its scores; raises VerificationFailed."""
        import numpy as np

        from greenkfp.components._shared.predictor import load_predictor

        try:
            got = np.asarray(load_predictor(pushed_dir)(self.rows), dtype=np.float64)
        except Exception as err:
            raise VerificationFailed(f"the pushed copy does not load: {err}") from err
        if got.shape != self.expected.shape:
            raise VerificationFailed(
                f"the pushed copy gave {got.shape} scores for {len(self.rows)} canary rows"
            )
        diff = float(np.max(np.abs(got - self.expected))) if len(got) else 0.0
        if not np.isfinite(diff) or diff > self.tolerance:
            raise VerificationFailed(
                f"canary predictions of the pushed copy differ from the candidate's by up to "
                f"{diff:.3g} on {len(self.rows)} rows (tolerance {self.tolerance:g})"
            )
        self.report["max_abs_diff"] = diff
