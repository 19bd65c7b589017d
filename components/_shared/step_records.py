"""The records that cross steps: the gate's blessing, the deployment, and a run's outcome.

``evaluate_gate`` writes a :class:`BlessingRecord` (the whole record as JSON, its
``METADATA_KEYS`` in the artifact's metadata); ``deploy_model`` reads it and writes a
:class:`DeploymentRecord` the same way; the sustainability report and the local runner
read both and reduce a run to its :class:`RunOutcome`. The keys of the figures are in
:mod:`step_keys`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, ClassVar, Iterable, Mapping, Optional

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.step_keys import (
    GAP,
    LATENCY_SPEEDUP_P50,
    MAX_FAIRNESS_GAP,
    SIZE_RATIO,
    parse_fairness_key,
)

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
"""Verdicts of a gate check; skipped: there was nothing to compare with."""

RUN_FIGURES_KEY = "sustainability"
"""Metadata key under which the run's report publishes every figure of the run."""


def _number(value: Any) -> Optional[float]:
    """A number as given (int or float), anything else (None, bool, text) as None."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _mapping(name: str, data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InputError(f"{name}: must be a dict, got {type(data).__name__}")
    return data


def _required_bool(name: str, data: Mapping[str, Any], key: str) -> bool:
    if not isinstance(data.get(key), bool):
        raise InputError(f"{name}: has no boolean {key!r}")
    return data[key]


def _optional_int(value: Any) -> Optional[int]:
    return None if _number(value) is None else int(value)


@dataclasses.dataclass
class Check:
    """One check of the gate.

    Attributes:
        name: The policy key, with the fairness metric and feature when per slice.
        metric: ``<source>.<metric>`` that was read (``""`` when none could be).
        value: The value read, or ``None`` for a skipped check.
        threshold: The policy's threshold.
        comparison: ``">="`` (a minimum) or ``"<="`` (a maximum).
        verdict: :data:`PASS`, :data:`FAIL` or :data:`SKIPPED`.
        detail: Why, in a few words.
    """

    name: str
    metric: str
    value: Optional[float]
    threshold: Optional[float]
    comparison: str
    verdict: str
    detail: str = ""

    @property
    def passed(self) -> Optional[bool]:
        """Whether the check passed; ``None`` when it was skipped."""
        return None if self.verdict == SKIPPED else self.verdict == PASS

    def reason(self) -> str:
        """Returns a one-line account, e.g. ``min_auc: 0.61 < 0.75 (fairness.auc)``."""
        if self.verdict == SKIPPED:
            return f"{self.name}: skipped ({self.detail})"
        op = self.comparison if self.verdict == PASS else {">=": "<", "<=": ">"}[self.comparison]
        value = "NaN" if self.value is None or math.isnan(self.value) else f"{self.value:.6g}"
        return f"{self.name}: {value} {op} {self.threshold:.6g} ({self.metric})"

    def to_dict(self) -> dict[str, Any]:
        """Returns the check as a dict of its fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        """Reads a check; a missing text field is empty, a missing number ``None``."""
        return cls(
            name=str(data.get("name") or ""),
            metric=str(data.get("metric") or ""),
            value=_number(data.get("value")),
            threshold=_number(data.get("threshold")),
            comparison=str(data.get("comparison") or ""),
            verdict=str(data.get("verdict") or ""),
            detail=str(data.get("detail") or ""),
        )


class _Record:
    """A record written whole as JSON, and in part (:attr:`METADATA_KEYS`) as metadata."""

    METADATA_KEYS: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """Returns the whole record, JSON-ready."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Returns the whole record as the JSON text of the step's artifact file."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @property
    def metadata(self) -> dict[str, Any]:
        """The fields of :attr:`METADATA_KEYS`, for the artifact's metadata."""
        record = self.to_dict()
        return {key: record[key] for key in self.METADATA_KEYS}


@dataclasses.dataclass
class BlessingRecord(_Record):
    """The gate's decision, as ``evaluate_gate`` writes it and ``deploy_model`` reads it.

    Attributes:
        approved: Whether no check failed.
        reasons: One line per failed check.
        checks: Every check with its value, threshold and verdict.
        candidate_metrics: The candidate's ``auc`` and ``accuracy``, each as
            ``{"value": ..., "source": "<source>.<metric>"}``.
        policy: The effective policy, defaults filled in.
        live: The live version compared with (``version``, ``uri``, ``metrics``), or None.
        inputs: Per source (``training``, ``compression``, ``fairness``) that was given,
            its ``uri`` and the ``metrics`` read.
    """

    approved: bool
    reasons: list[str] = dataclasses.field(default_factory=list)
    checks: list[Check] = dataclasses.field(default_factory=list)
    candidate_metrics: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    policy: dict[str, Any] = dataclasses.field(default_factory=dict)
    live: Optional[dict[str, Any]] = None
    inputs: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    METADATA_KEYS: ClassVar[tuple[str, ...]] = (
        "approved",
        "reasons",
        "checks",
        "candidate_metrics",
        "policy",
    )
    """The fields the blessing artifact's metadata holds; its JSON file holds them all."""

    @property
    def figures(self) -> dict[str, float]:
        """What ``evaluate_gate`` logs to its Metrics: ``approved`` (1/0) and the check counts."""
        return {
            "approved": float(self.approved),
            "checks_passed": float(sum(c.verdict == PASS for c in self.checks)),
            "checks_failed": float(sum(c.verdict == FAIL for c in self.checks)),
        }

    @classmethod
    def from_figures(cls, figures: Mapping[str, float]) -> Optional[BlessingRecord]:
        """The decision that ``evaluate_gate``'s Metrics tell (no checks); None without it."""
        if "approved" not in figures:
            return None
        return cls(approved=figures["approved"] >= 0.5)

    def input_metrics(self, source: str) -> Optional[dict[str, Any]]:
        """The metrics the gate read from ``source``, or None when it was not given."""
        entry = self.inputs.get(source)
        return entry.get("metrics") if entry else None

    @staticmethod
    def holds_one(data: Any) -> bool:
        """Whether ``data`` has a blessing's shape: a boolean ``approved``, a list of checks."""
        return (
            isinstance(data, Mapping)
            and isinstance(data.get("approved"), bool)
            and isinstance(data.get("checks"), list)
        )

    @classmethod
    def from_dict(cls, data: Any, name: str = "blessing") -> BlessingRecord:
        """Reads a blessing record, or the part of it an artifact's metadata holds.

        Args:
            data: The record.
            name: What to call it in an error message.

        Raises:
            InputError: Not a dict, no boolean ``approved``, or ``checks`` is not a list
                of dicts.
        """
        data = _mapping(name, data)
        approved = _required_bool(name, data, "approved")
        checks = data.get("checks") or []
        if not isinstance(checks, list) or not all(isinstance(c, Mapping) for c in checks):
            raise InputError(f"{name}: 'checks' must be a list of dicts")
        return cls(
            approved=approved,
            reasons=[str(r) for r in data.get("reasons") or []],
            checks=[Check.from_dict(c) for c in checks],
            candidate_metrics=dict(data.get("candidate_metrics") or {}),
            policy=dict(data.get("policy") or {}),
            live=dict(data["live"]) if data.get("live") else None,
            inputs=dict(data.get("inputs") or {}),
        )


@dataclasses.dataclass
class DeploymentRecord(_Record):
    """What ``deploy_model`` did, or why it did nothing.

    Attributes:
        deployed: Whether a version was pushed.
        version: The pushed version (0 when none).
        pushed_uri: The pushed version's URI (``""`` when none).
        live: Whether the pushed version is LIVE.
        reasons: Why nothing was pushed, or why LIVE stays at another version.
        registry_uri: The registry's base URI.
        model_name: The model's name in the registry.
        live_version: The LIVE version after the push.
        previous_live: The LIVE version before the push.
        manifest: The KServe InferenceService of the pushed version.
        canary: The canary check's figures (``rows``, ``max_abs_diff``, ...).
        applied: ``created`` or ``patched`` when the InferenceService was applied.
    """

    deployed: bool
    version: int = 0
    pushed_uri: str = ""
    live: bool = False
    reasons: list[str] = dataclasses.field(default_factory=list)
    registry_uri: str = ""
    model_name: str = ""
    live_version: Optional[int] = None
    previous_live: Optional[int] = None
    manifest: Optional[dict[str, Any]] = None
    canary: dict[str, Any] = dataclasses.field(default_factory=dict)
    applied: str = ""

    METADATA_KEYS: ClassVar[tuple[str, ...]] = (
        "deployed",
        "version",
        "pushed_uri",
        "live",
        "reasons",
    )
    """The fields the deployment artifact's metadata holds; its JSON file holds them all."""

    @property
    def figures(self) -> dict[str, float]:
        """What ``deploy_model`` logs to its Metrics; ``canary_*`` after a canary check."""
        figures = {
            "deployed": float(self.deployed),
            "version": float(self.version),
            "live": float(self.live),
        }
        for key in ("rows", "max_abs_diff"):
            if key in self.canary:
                figures[f"canary_{key}"] = float(self.canary[key])
        return figures

    @classmethod
    def from_figures(cls, figures: Mapping[str, float]) -> Optional[DeploymentRecord]:
        """What ``deploy_model``'s Metrics tell of the record; None without ``deployed``."""
        if "deployed" not in figures:
            return None
        return cls(
            deployed=figures["deployed"] >= 0.5,
            version=int(figures.get("version", 0)),
            live=figures.get("live", 0.0) >= 0.5,
        )

    @staticmethod
    def holds_one(data: Any) -> bool:
        """Whether ``data`` has a deployment record's shape: a boolean ``deployed``."""
        return isinstance(data, Mapping) and isinstance(data.get("deployed"), bool)

    @classmethod
    def from_dict(cls, data: Any, name: str = "deployment") -> DeploymentRecord:
        """Reads a deployment record, or the part of it an artifact's metadata holds.

        Args:
            data: The record.
            name: What to call it in an error message.

        Raises:
            InputError: Not a dict, or no boolean ``deployed``.
        """
        data = _mapping(name, data)
        return cls(
            deployed=_required_bool(name, data, "deployed"),
            version=int(data.get("version") or 0),
            pushed_uri=str(data.get("pushed_uri") or ""),
            live=bool(data.get("live", False)),
            reasons=[str(r) for r in data.get("reasons") or []],
            registry_uri=str(data.get("registry_uri") or ""),
            model_name=str(data.get("model_name") or ""),
            live_version=_optional_int(data.get("live_version")),
            previous_live=_optional_int(data.get("previous_live")),
            manifest=dict(data["manifest"]) if data.get("manifest") else None,
            canary=dict(data.get("canary") or {}),
            applied=str(data.get("applied") or ""),
        )


def worst_fairness_gap(fairness: Mapping[str, Any]) -> Optional[float]:
    """The fairness step's ``max_fairness_gap``, else the largest gap among its keys."""
    worst = _number(fairness.get(MAX_FAIRNESS_GAP))
    if worst is not None:
        return worst
    gaps = [
        value
        for key, value in fairness.items()
        if _number(value) is not None
        and (parsed := parse_fairness_key(key)) is not None
        and parsed.is_metric
        and parsed.kind == GAP
    ]
    return max(gaps, default=None)


@dataclasses.dataclass
class RunOutcome:
    """What a run decided and its headline figures; ``None`` where it has no such step.

    Attributes:
        approved: The gate's decision.
        checks: The gate's checks.
        deployed: Whether a version was pushed.
        deployed_version: The pushed version (``None`` when none was).
        size_ratio: Base over compressed model size.
        latency_speedup: Base over compressed p50 latency.
        worst_fairness_gap: The largest fairness gap of the evaluated model.
    """

    approved: Optional[bool] = None
    checks: Optional[list[Check]] = None
    deployed: Optional[bool] = None
    deployed_version: Optional[int] = None
    size_ratio: Optional[float] = None
    latency_speedup: Optional[float] = None
    worst_fairness_gap: Optional[float] = None

    def to_dict(self) -> dict[str, Any]:
        """Returns every field, JSON-ready."""
        return dataclasses.asdict(self)

    @classmethod
    def from_records(
        cls,
        blessing: Optional[BlessingRecord] = None,
        deployment: Optional[DeploymentRecord] = None,
        compression: Optional[Mapping[str, Any]] = None,
        fairness: Optional[Mapping[str, Any]] = None,
    ) -> RunOutcome:
        """Reduces a run's records to its outcome.

        Args:
            blessing: The gate's blessing, or None.
            deployment: The deployment record, or None.
            compression: ``compress_model``'s metrics, or None.
            fairness: The fairness step's metrics, or None.
        """
        compression = compression or {}
        return cls(
            approved=blessing.approved if blessing else None,
            checks=list(blessing.checks) if blessing else None,
            deployed=deployment.deployed if deployment else None,
            deployed_version=(deployment.version or None) if deployment else None,
            size_ratio=_number(compression.get(SIZE_RATIO)),
            latency_speedup=_number(compression.get(LATENCY_SPEEDUP_P50)),
            worst_fairness_gap=worst_fairness_gap(fairness) if fairness else None,
        )

    @classmethod
    def from_outputs(cls, outputs: Iterable[Mapping[str, Any]]) -> RunOutcome:
        """Reads a run's outcome from its steps' outputs, whatever the steps are called.

        Records are told by their shape: the first output holding a blessing
        (:meth:`BlessingRecord.holds_one`) and the first holding a deployment record
        (:meth:`DeploymentRecord.holds_one`); each figure is the first value given under
        its key.

        Args:
            outputs: In run order, the metadata of each output artifact and each step's
                output parameters (one mapping per step).
        """
        blessing: Optional[BlessingRecord] = None
        deployment: Optional[DeploymentRecord] = None
        figures: dict[str, Any] = {}
        for output in outputs:
            if blessing is None and BlessingRecord.holds_one(output):
                blessing = BlessingRecord.from_dict(output)
            if deployment is None and DeploymentRecord.holds_one(output):
                deployment = DeploymentRecord.from_dict(output)
            for key, value in output.items():
                figures.setdefault(key, value)
        return cls.from_records(blessing, deployment, figures, figures)
