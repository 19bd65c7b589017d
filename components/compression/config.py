"""What to compress and how: methods, their order, and their settings, checked up front."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence, Union

from greenkfp.components._shared.errors import InputError

PRUNE = "prune"
QAT = "qat"
DYNAMIC = "dynamic"
INT8 = "int8"
FLOAT16 = "float16"
AUTO = "auto"
FLOAT32 = "float32"
"""The name of the candidate that converts the core to TFLite without compressing it."""

#: What ``auto`` minimises: inference energy per 1,000 predictions, gzipped size, p50 latency.
OBJECTIVES = ("energy", "size", "latency")

#: Post-training quantizations to TFLite; at most one, last.
PTQ_METHODS = (DYNAMIC, INT8, FLOAT16)
#: Every method, in the order they combine.
METHOD_ORDER = (PRUNE, QAT, *PTQ_METHODS)
SCHEDULES = ("polynomial", "constant")
#: ``compress_model``'s inputs whose setting has another name.
INPUT_SETTINGS = {"pruning_schedule": "schedule"}


@dataclasses.dataclass
class CompressionConfig:
    """Settings of one compression run; invalid values raise :class:`InputError`.

    Attributes:
        methods: Methods in the order they apply (see :data:`METHOD_ORDER`), or ``["auto"]``.
        sparsity: Target fraction of zero weights for pruning, in [0, 1).
        schedule: Pruning schedule: ``polynomial`` (0 → sparsity over the fine-tuning) or
            ``constant`` (sparsity from the first step).
        fine_tune_epochs: Epochs of fine-tuning for pruning and for QAT.
        learning_rate: Adam learning rate of the fine-tuning.
        batch_size: Batch size of the fine-tuning.
        representative_samples: Train rows calibrating int8 quantization.
        max_fine_tune_rows: Most training rows pruning and QAT fine-tune on (a seeded
            sample of the rows training fitted on; all of them when fewer), so that
            fine-tuning's cost stays bounded on large data.
        max_serving_rows: Most eval rows latency and energy are measured on (a seeded
            sample); quality figures use every eval row.
        max_accuracy_drop: ``auto`` keeps candidates whose accuracy drop (fraction) is at
            most this.
        max_auc_drop: ``auto`` keeps candidates whose AUC drop is at most this.
        budget_alpha: One-sided error level of the accuracy budget's exact paired bound
            (see ``budget``): a candidate is within budget only when the drop's upper
            ``1 - budget_alpha`` bound is at most ``max_accuracy_drop``.
        objective: What ``auto`` minimises among candidates within budget and no worse
            than the base model: ``energy`` (per 1,000 predictions), ``size`` (gzipped)
            or ``latency`` (p50).
        noise_margin: Relative run-to-run noise of latency and energy readings: ``auto``
            counts a candidate as paying only when it is no worse than the base beyond
            this margin on every figure of the objective and better beyond it on one,
            and treats candidates within it of the best as tied (the smallest ships).
        serving_batch_size: The serving batch at which latency and energy are measured
            besides batch 1.
        auto_sparsities: Sparsities ``auto`` tries with each of ``auto_quantizations``
            (0 means no pruning); the float32 model and every quantization alone are
            always tried too.
        auto_quantizations: Post-training quantizations ``auto`` tries with each sparsity.
        latency_runs: Timed predictions per model and batch size.
        latency_warmup: Untimed predictions before timing.
        threads: TFLite interpreter threads for latency and energy.
        energy_predictions: Least predictions metered for inference energy, per batch size.
        energy_min_seconds: Least seconds of predictions metered for inference energy, per
            model and batch size.
        seed: Random seed of the fine-tuning and of the representative sample.
    """

    methods: list[str] = dataclasses.field(default_factory=lambda: [AUTO])
    sparsity: float = 0.5
    schedule: str = "polynomial"
    fine_tune_epochs: int = 4
    learning_rate: float = 5e-4
    batch_size: int = 32
    representative_samples: int = 200
    max_fine_tune_rows: int = 50_000
    max_serving_rows: int = 2_000
    max_accuracy_drop: float = 0.01
    max_auc_drop: float = 0.01
    budget_alpha: float = 0.05
    objective: str = "energy"
    serving_batch_size: int = 64
    noise_margin: float = 0.1
    auto_sparsities: list[float] = dataclasses.field(default_factory=lambda: [0.5, 0.7, 0.8])
    auto_quantizations: list[str] = dataclasses.field(default_factory=lambda: [INT8, DYNAMIC])
    latency_runs: int = 300
    latency_warmup: int = 30
    threads: int = 1
    energy_predictions: int = 2000
    energy_min_seconds: float = 2.0
    seed: int = 42

    def __post_init__(self) -> None:
        self.methods = parse_methods(self.methods)
        self.sparsity = check_sparsity(self.sparsity)
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown pruning schedule {self.schedule!r}; use one of {SCHEDULES}")
        for name in ("fine_tune_epochs", "batch_size", "representative_samples", "latency_runs"):
            _check_positive_int(name, getattr(self, name))
        for name in ("threads", "energy_predictions", "serving_batch_size"):
            _check_positive_int(name, getattr(self, name))
        for name in ("max_fine_tune_rows", "max_serving_rows"):
            _check_positive_int(name, getattr(self, name))
        if self.objective not in OBJECTIVES:
            raise InputError(f"unknown objective {self.objective!r}; use one of {OBJECTIVES}")
        if not 0 <= float(self.noise_margin) < 0.5:
            raise InputError(f"noise_margin must be in [0, 0.5), got {self.noise_margin}")
        if not 0 < float(self.budget_alpha) < 0.5:
            raise InputError(f"budget_alpha must be in (0, 0.5), got {self.budget_alpha}")
        if not 0 <= float(self.energy_min_seconds) <= 600:
            raise InputError(
                f"energy_min_seconds must be in [0, 600], got {self.energy_min_seconds}"
            )
        if int(self.latency_warmup) < 0:
            raise InputError(f"latency_warmup must be >= 0, got {self.latency_warmup}")
        if not 0 < float(self.learning_rate) < 1:
            raise InputError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        for name in ("max_accuracy_drop", "max_auc_drop"):
            value = float(getattr(self, name))
            if not 0 <= value <= 1:
                raise InputError(f"{name} must be in [0, 1] (a fraction), got {value}")
            setattr(self, name, value)
        self.auto_sparsities = [check_sparsity(s) for s in self.auto_sparsities]
        unknown = [q for q in self.auto_quantizations if q not in PTQ_METHODS]
        if unknown or not self.auto_quantizations or not self.auto_sparsities:
            raise InputError(
                f"auto needs sparsities in [0, 1) and quantizations among {PTQ_METHODS}; "
                f"got {self.auto_sparsities} and {self.auto_quantizations}"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CompressionConfig:
        """Builds a config from keyword values, naming any unknown key."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown compression settings {unknown}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> CompressionConfig:
        """Builds a config from ``compress_model``'s parameter inputs, ignoring the others.

        Empty ``methods`` mean ``auto``; ``pruning_schedule`` is the ``schedule``.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        values = {INPUT_SETTINGS.get(k, k): v for k, v in inputs.items()}
        values = {k: v for k, v in values.items() if k in known}
        values["methods"] = values.get("methods") or [AUTO]
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-friendly dict."""
        return dataclasses.asdict(self)

    def auto_grid(self) -> list[tuple[list[str], float]]:
        """``auto``'s candidates as ``(methods, sparsity)``, without repeats.

        The float32 model (no compression beyond conversion, the always-safe fallback),
        each post-training quantization alone, then each of :attr:`auto_sparsities` above
        0 pruned and combined with each of :attr:`auto_quantizations`.
        """
        grid: list[tuple[list[str], float]] = [([], 0.0)]
        grid += [([quant], 0.0) for quant in PTQ_METHODS]
        grid += [
            ([PRUNE, quant], sparsity)
            for sparsity in self.auto_sparsities
            if sparsity > 0
            for quant in self.auto_quantizations
        ]
        return grid


def parse_methods(methods: Union[str, Sequence[str]]) -> list[str]:
    """Checks a method list: known names, no repeats, in :data:`METHOD_ORDER`.

    Args:
        methods: Names; an item may hold several, comma-separated (``"prune,int8"``).

    Returns:
        The lower-cased names.

    Raises:
        InputError: On an unknown or repeated method, methods out of order, two
            post-training quantizations, ``qat`` with ``dynamic`` or ``float16`` (a QAT
            model converts to int8), or ``auto`` combined with anything.
    """
    if isinstance(methods, str):
        methods = [methods]
    names = [n.strip().lower() for m in methods for n in str(m).split(",") if n.strip()]
    if not names:
        raise InputError(f"no compression method given; choose from {[*METHOD_ORDER, AUTO]}")
    unknown = [m for m in names if m not in (*METHOD_ORDER, AUTO)]
    if unknown:
        raise InputError(
            f"unknown compression method(s) {unknown}; choose from {[*METHOD_ORDER, AUTO]}"
        )
    if AUTO in names:
        if len(names) > 1:
            raise InputError(f"'auto' runs alone; got {names}")
        return names
    if len(set(names)) != len(names):
        raise InputError(f"compression methods repeat: {names}")
    ptq = [m for m in names if m in PTQ_METHODS]
    if len(ptq) > 1:
        raise InputError(f"choose one post-training quantization, got {ptq}")
    if names != sorted(names, key=METHOD_ORDER.index):
        raise InputError(
            f"compression methods {names} are out of order; they combine as "
            f"prune, then qat, then one of {list(PTQ_METHODS)}"
        )
    if QAT in names and ptq and ptq[0] != INT8:
        raise InputError(f"qat yields an int8 model; it does not combine with {ptq[0]!r}")
    return names


def check_sparsity(value: Any) -> float:
    """Returns ``value`` as a float in [0, 1), else raises :class:`InputError`."""
    try:
        sparsity = float(value)
    except (TypeError, ValueError):
        raise InputError(f"sparsity must be a number in [0, 1), got {value!r}") from None
    if not 0 <= sparsity < 1:
        raise InputError(f"sparsity must be in [0, 1), got {sparsity}")
    return sparsity


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
