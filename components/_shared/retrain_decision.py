"""The retraining decision of a continuous training run, and the energy a skip avoided.

``decide_retraining`` writes a :class:`RetrainDecision` (the whole record as JSON, its
``METADATA_KEYS`` in the artifact's metadata); every later step of a continuous training
run reads it and, when it says not to retrain, finishes at once (:mod:`skipping`); the
local runner reads it by its shape into ``run_summary.json``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar, Iterable, Mapping, Optional

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.step_records import (
    _mapping,
    _number,
    _optional_int,
    _Record,
    _required_bool,
)

POLICIES = ("drift", "quality_drop", "drift_or_quality_drop", "always")
"""When to retrain: on drift, on a quality drop of the live model, on either, or always."""


@dataclasses.dataclass
class RetrainDecision(_Record):
    """Whether a continuous training run retrains, as ``decide_retraining`` writes it.

    Attributes:
        retrain: Whether the run trains (and may deploy) a new model.
        reasons: Every reason for the verdict, each with its figure and threshold.
        policy: ``drift``, ``quality_drop``, ``drift_or_quality_drop`` or ``always``.
        live_version: The live version judged against (None when nothing is live).
        live_pipeline_energy_kwh: The energy the live version's pipeline spent, as the
            registry recorded it (None when it recorded none): what a skip avoids.
        drift: One finding per feature and test (``feature``, ``test``, ``value``,
            ``threshold``, ``drifted``).
        quality: The live model on the new data: ``metric``, ``recorded``, ``on_new_data``,
            ``drop``, ``threshold``, ``dropped``; empty when it could not be measured.
    """

    retrain: bool
    reasons: list[str] = dataclasses.field(default_factory=list)
    policy: str = ""
    live_version: Optional[int] = None
    live_pipeline_energy_kwh: Optional[float] = None
    drift: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    quality: dict[str, Any] = dataclasses.field(default_factory=dict)

    METADATA_KEYS: ClassVar[tuple[str, ...]] = (
        "retrain",
        "reasons",
        "policy",
        "live_version",
        "live_pipeline_energy_kwh",
    )
    """The fields the decision artifact's metadata holds; its JSON file holds them all."""

    @staticmethod
    def holds_one(data: Any) -> bool:
        """Whether ``data`` has a decision's shape: a boolean ``retrain``, a list of reasons."""
        return (
            isinstance(data, Mapping)
            and isinstance(data.get("retrain"), bool)
            and isinstance(data.get("reasons"), list)
        )

    @classmethod
    def from_dict(cls, data: Any, name: str = "retraining decision") -> RetrainDecision:
        """Reads a decision, or the part of it an artifact's metadata holds.

        Raises:
            InputError: Not a dict, or no boolean ``retrain``.
        """
        data = _mapping(name, data)
        return cls(
            retrain=_required_bool(name, data, "retrain"),
            reasons=[str(r) for r in data.get("reasons") or []],
            policy=str(data.get("policy") or ""),
            live_version=_optional_int(data.get("live_version")),
            live_pipeline_energy_kwh=_number(data.get("live_pipeline_energy_kwh")),
            drift=[dict(d) for d in data.get("drift") or []],
            quality=dict(data.get("quality") or {}),
        )

    @classmethod
    def read(cls, path: str) -> RetrainDecision:
        """Reads the decision file a ``decide_retraining`` step wrote.

        Raises:
            InputError: When the file is missing, not JSON or not a decision.
        """
        try:
            data = json.loads(uri_io.read_bytes(path))
        except (OSError, ValueError) as err:
            raise InputError(f"retraining decision {path} cannot be read: {err}") from err
        return cls.from_dict(data, name=f"retraining decision {path}")


def energy_avoided_kwh(
    retrained: bool, live_pipeline_energy_kwh: Optional[float], spent_kwh: float
) -> Optional[float]:
    """The energy a run avoided by not retraining.

    It is the live version's recorded pipeline energy less what this run spent (negative
    when the check cost more than the training it avoided); 0 when the run retrained, and
    None when the registry recorded no energy for the live version.
    """
    if retrained:
        return 0.0
    if live_pipeline_energy_kwh is None:
        return None
    return float(live_pipeline_energy_kwh) - float(spent_kwh)


def retraining_figures(outputs: Iterable[Mapping[str, Any]], spent_kwh: float) -> dict[str, Any]:
    """What a run's summary says of retraining; empty for a run without a decision.

    The keys are ``retrained``, ``retrain_reasons`` and ``energy_avoided_kwh``.

    Args:
        outputs: The metadata of each output artifact of the run's steps; the decision is
            told by its shape (:meth:`RetrainDecision.holds_one`).
        spent_kwh: The energy the run's steps spent.
    """
    decision = next(
        (RetrainDecision.from_dict(o) for o in outputs if RetrainDecision.holds_one(o)), None
    )
    if decision is None:
        return {}
    return {
        "retrained": decision.retrain,
        "retrain_reasons": decision.reasons,
        "energy_avoided_kwh": energy_avoided_kwh(
            decision.retrain, decision.live_pipeline_energy_kwh, spent_kwh
        ),
    }
