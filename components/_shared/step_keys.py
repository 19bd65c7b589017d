"""Every Metrics key that crosses a step: energy, compression and fairness figures.

A step that writes a figure and a step that reads it import its key from here, as TFX
keeps its keys in ``types/standard_component_specs.py`` and ``evaluator/constants.py``.
The records that cross steps (the gate's blessing, the deployment, a run's outcome) are
in :mod:`step_records`.

Fairness keys have one builder, :func:`fairness_key`, and one parser,
:func:`parse_fairness_key`. A key may carry a role prefix: ``baseline_<key>`` is the
baseline model's figure and ``delta_<key>`` the candidate's minus the baseline's, so a
reader can tell a metric from a comparison (:func:`split_role`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Optional, Union

# ----------------------------------------------------------------------------- energy


@dataclasses.dataclass(frozen=True)
class Figure:
    """A figure a step records: its Metrics key, what a person calls it, and its unit."""

    key: str
    label: str
    unit: str = ""

    @property
    def heading(self) -> str:
        """The label with its unit, e.g. ``energy (kWh)``."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


ENERGY_FIGURES = (
    Figure("energy_kwh", "energy", "kWh"),
    Figure("cpu_energy_kwh", "CPU energy", "kWh"),
    Figure("gpu_energy_kwh", "GPU energy", "kWh"),
    Figure("ram_energy_kwh", "RAM energy", "kWh"),
    Figure("emissions_kg_co2eq", "emissions", "kg CO2eq"),
    Figure("carbon_intensity_g_per_kwh", "carbon intensity", "g CO2eq/kWh"),
    Figure("duration_s", "duration", "s"),
)
"""The headline numbers every step logs to its Metrics (``EnergyReading.metrics()``)."""

ENERGY_LOW, ENERGY_HIGH = "energy_kwh_low", "energy_kwh_high"
ENERGY_BOUND_KEYS = (ENERGY_LOW, ENERGY_HIGH)
NODE_ENERGY = "node_energy_kwh"
KEPLER_ENERGY = "kepler_energy_kwh"

ENERGY_DETAIL_FIGURES = (
    Figure(ENERGY_LOW, "energy, low bound", "kWh"),
    Figure(ENERGY_HIGH, "energy, high bound", "kWh"),
    Figure(NODE_ENERGY, "energy of the whole node", "kWh"),
    Figure("cpu_share", "share of the node's busy CPU time"),
    Figure("memory_share", "share of the node's memory"),
    Figure("cpu_tdp_w", "CPU TDP of the estimate (0: counters)", "W"),
    Figure(KEPLER_ENERGY, "Kepler: the pod's CPU energy", "kWh"),
)
"""What the headline energy rests on: its bound, the node's figure, the process's shares,
the TDP, and Kepler's cross-check (logged only when Kepler answered)."""

GRID_FIGURES = (
    Figure("emissions_kg_co2eq_annual_average", "emissions at the annual average", "kg CO2eq"),
    Figure("carbon_intensity_annual_average_g_per_kwh", "annual average intensity", "g CO2eq/kWh"),
    Figure("emissions_kg_co2eq_best_window", "emissions at the best window", "kg CO2eq"),
    Figure("carbon_intensity_best_window_g_per_kwh", "best window intensity", "g CO2eq/kWh"),
)
"""Beside ``emissions_kg_co2eq`` (as run): the same energy at codecarbon's annual country
average, and at the cleanest window of the step's length the provider's data held (only
when a provider priced the step, see ``grid_intensity``)."""

GRID_METADATA_KEYS = (
    "carbon_intensity_source",
    "carbon_intensity_location",
    "carbon_intensity_note",
    "best_window_start",
)
"""Which intensity priced the step, for which location, why not a provider's, and when the
best window starts: strings in every step's artifact metadata."""

ALL_ENERGY_FIGURES = (*ENERGY_FIGURES, *ENERGY_DETAIL_FIGURES, *GRID_FIGURES)
"""The headline figures, the details, then the grid figures, in report order."""

ENERGY_KEYS = tuple(f.key for f in ALL_ENERGY_FIGURES)
"""The keys of :data:`ALL_ENERGY_FIGURES`."""

ENERGY_METADATA_KEYS = (
    "energy_method",
    "country_iso_code",
    "region",
    "cpu_model",
    "gpu_model",
    "cpu_tdp_source",
    "kepler_status",
    *GRID_METADATA_KEYS,
)
"""How, where and on what the energy was obtained: strings in every step's artifact metadata."""

ENERGY_UNITS = {
    **{f.key: f.unit for f in ALL_ENERGY_FIGURES},
    **dict.fromkeys(ENERGY_METADATA_KEYS, ""),
}
"""Every energy field, numbers then descriptions, with its unit (``""`` for text)."""

# ----------------------------------------------------------------------------- compression


@dataclasses.dataclass(frozen=True)
class BeforeAfter:
    """A figure ``compress_model`` measures on both models: label, the two keys, unit."""

    label: str
    base_key: str
    compressed_key: str
    unit: str = ""

    def figures(self, base: float, compressed: float) -> dict[str, float]:
        """The base and compressed model's values under their keys."""
        return {self.base_key: float(base), self.compressed_key: float(compressed)}


COMPRESSED_INFERENCE_ENERGY = "compressed_inference_energy_kwh_per_1k"
"""The compressed model's inference energy per 1,000 predictions, kWh (the SCI's E)."""

TFLITE_SIZE = BeforeAfter("Size (TFLite)", "base_bytes", "compressed_bytes", "bytes")
GZIP_SIZE = BeforeAfter("Size gzipped", "base_gzip_bytes", "compressed_gzip_bytes", "bytes")
EVAL_ACCURACY = BeforeAfter("Accuracy (eval)", "base_accuracy", "compressed_accuracy")
EVAL_AUC = BeforeAfter("AUC (eval)", "base_auc", "compressed_auc")
LATENCY_P50 = BeforeAfter(
    "Latency p50, batch 1", "base_latency_p50_ms", "compressed_latency_p50_ms", "ms"
)
LATENCY_P95 = BeforeAfter(
    "Latency p95, batch 1", "base_latency_p95_ms", "compressed_latency_p95_ms", "ms"
)
INFERENCE_ENERGY = BeforeAfter(
    "Inference energy per 1,000 predictions",
    "base_inference_energy_kwh_per_1k",
    COMPRESSED_INFERENCE_ENERGY,
    "kWh",
)
BATCH_LATENCY_P50 = BeforeAfter(
    "Latency p50, one serving batch",
    "base_batch_latency_p50_ms",
    "compressed_batch_latency_p50_ms",
    "ms",
)
BATCH_INFERENCE_ENERGY = BeforeAfter(
    "Inference energy per 1,000 predictions, serving batch",
    "base_batch_inference_energy_kwh_per_1k",
    "compressed_batch_inference_energy_kwh_per_1k",
    "kWh",
)

COMPRESSION_BEFORE_AFTER = (
    TFLITE_SIZE,
    GZIP_SIZE,
    EVAL_ACCURACY,
    EVAL_AUC,
    LATENCY_P50,
    LATENCY_P95,
    INFERENCE_ENERGY,
    BATCH_LATENCY_P50,
    BATCH_INFERENCE_ENERGY,
)
"""The base (float32) and compressed model side by side, as ``compress_model`` logs them."""

SIZE_RATIO = "size_ratio"
"""Base size over compressed size (TFLite bytes)."""

LATENCY_SPEEDUP_P50 = "latency_speedup_p50"
"""Base p50 latency over compressed p50 latency, batch 1."""

GZIP_SIZE_RATIO, ACCURACY_DROP, AUC_DROP, INFERENCE_ENERGY_RATIO, SPARSITY = (
    "gzip_size_ratio",
    "accuracy_drop",
    "auc_drop",
    "inference_energy_ratio",
    "sparsity",
)
"""Ratios are base over compressed, drops base minus compressed; sparsity is the share of
zero kernel weights in the compressed core."""

BATCH_LATENCY_SPEEDUP_P50, BATCH_INFERENCE_ENERGY_RATIO = (
    "batch_latency_speedup_p50",
    "batch_inference_energy_ratio",
)
"""The same ratios at the serving batch (``serving_batch_size`` rows per call)."""

ACCURACY_DROP_UPPER = "accuracy_drop_upper"
"""Exact upper bound (one-sided, ``1 - budget_alpha``) of the true accuracy drop from the
paired per-row decisions of base and compressed model; the quality budget's verdict
compares it, not the observed drop, with ``max_accuracy_drop``."""

ACCURACY_DROP_P_VALUE = "accuracy_drop_p_value"
"""Exact one-sided McNemar p-value that the compressed model is no less accurate than the
base (small: the loss is real)."""

COMPRESSION_RATIOS = (
    Figure(SIZE_RATIO, "size ratio (base/compressed)"),
    Figure(GZIP_SIZE_RATIO, "gzip size ratio (base/compressed)"),
    Figure(ACCURACY_DROP, "accuracy drop"),
    Figure(ACCURACY_DROP_UPPER, "accuracy drop, upper bound"),
    Figure(AUC_DROP, "AUC drop"),
    Figure(LATENCY_SPEEDUP_P50, "latency speed-up p50"),
    Figure(BATCH_LATENCY_SPEEDUP_P50, "latency speed-up p50, serving batch"),
    Figure(INFERENCE_ENERGY_RATIO, "inference energy ratio (base/compressed)"),
    Figure(BATCH_INFERENCE_ENERGY_RATIO, "inference energy ratio, serving batch"),
    Figure(SPARSITY, "weight sparsity"),
)
"""What compression bought, as ratios and drops."""

PREDICTION_AGREEMENT, LATENCY_THREADS, CANDIDATES_TRIED, WITHIN_BUDGET = (
    "prediction_agreement",
    "latency_threads",
    "candidates_tried",
    "within_budget",
)
"""Context of ``compress_model``'s figures: the share of eval rows whose 0.5-decision both
models share, the interpreter threads latency was timed with, how many candidates were
tried, and whether the kept one is within the quality budget (1.0) or not (0.0)."""

SERVING_BATCH_SIZE, FALLBACK = "serving_batch_size", "fallback"
"""The serving batch's rows per call, and whether ``auto`` shipped the float32 model
because no compressed candidate was within budget and paid on the objective (1.0)."""

# ----------------------------------------------------------------------------- fairness

GAP_METRICS = (
    "false_positive_rate",
    "false_negative_rate",
    "positive_rate",
    "true_positive_rate",
)
"""The rates compared across slices (FairnessIndicators' names)."""

QUALITY_KEYS = ("auc", "accuracy", "precision", "recall", "example_count")
"""Overall quality figures of the model the fairness step evaluated."""

MAX_FAIRNESS_GAP = "max_fairness_gap"
"""The largest gap over every feature, threshold and metric."""

GAP, RATIO, SIGNIFICANT = "gap", "ratio", "gap_significant"
"""Kinds of fairness key: largest minus smallest rate, smallest over largest, and whether
the gap is significant (1.0 when its 95% interval excludes 0, else 0.0)."""

BASELINE, DELTA = "baseline", "delta"
"""Role prefixes: the baseline model's figure, and the candidate's minus the baseline's."""

_KINDS = (SIGNIFICANT, GAP, RATIO)  # gap_significant before gap, for the parser
_ROLES = (BASELINE, DELTA)
_FAIRNESS_KEY = re.compile(
    rf"^(?P<metric>{'|'.join(GAP_METRICS)})_(?P<kind>{'|'.join(_KINDS)})_"
    r"(?P<feature>.+)@(?P<threshold>[0-9.eE+-]+)$"
)


def threshold_label(threshold: Union[float, str]) -> str:
    """Formats a decision threshold as keys show it: ``0.5``, ``0.25``."""
    return f"{float(threshold):g}"


def with_role(role: str, key: str) -> str:
    """Returns the key of a comparison figure: ``baseline_auc``, ``delta_max_fairness_gap``.

    Raises:
        ValueError: ``role`` is not ``baseline`` or ``delta``.
    """
    if role not in _ROLES:
        raise ValueError(f"role {role!r} is not one of {_ROLES}")
    return f"{role}_{key}"


def split_role(key: str) -> tuple[str, str]:
    """Splits a key into its role and the figure it is about.

    Returns:
        ``("baseline", "auc")`` for ``baseline_auc``, ``("delta", k)`` for ``delta_<k>``,
        and ``("", key)`` for a figure of the evaluated model itself.
    """
    for role in _ROLES:
        if key.startswith(f"{role}_"):
            return role, key[len(role) + 1 :]
    return "", key


@dataclasses.dataclass(frozen=True)
class FairnessKey:
    """A fairness key taken apart: ``[<role>_]<metric>_<kind>_<feature>@<threshold>``.

    Attributes:
        metric: One of :data:`GAP_METRICS`.
        feature: The sensitive feature or cross the slices belong to (``sex_x_age``).
        threshold: The decision threshold as the key writes it (``0.5``).
        kind: :data:`GAP`, :data:`RATIO` or :data:`SIGNIFICANT`.
        role: ``""`` for the evaluated model's own figure, :data:`BASELINE` or :data:`DELTA`.
    """

    metric: str
    feature: str
    threshold: str
    kind: str = GAP
    role: str = ""

    def __str__(self) -> str:
        key = f"{self.metric}_{self.kind}_{self.feature}@{self.threshold}"
        return with_role(self.role, key) if self.role else key

    @property
    def is_metric(self) -> bool:
        """Whether this is the evaluated model's gap or ratio (not a flag, baseline or delta)."""
        return not self.role and self.kind in (GAP, RATIO)

    def replace(self, **changes: str) -> FairnessKey:
        """Returns the key of a sibling figure, e.g. ``replace(role=BASELINE)``."""
        return dataclasses.replace(self, **changes)


def fairness_key(
    metric: str, feature: str, threshold: Union[float, str], kind: str = GAP, role: str = ""
) -> str:
    """Builds a fairness key: ``false_negative_rate_gap_sex@0.5``.

    Args:
        metric: One of :data:`GAP_METRICS`.
        feature: The sensitive feature or cross.
        threshold: The decision threshold.
        kind: :data:`GAP`, :data:`RATIO` or :data:`SIGNIFICANT`.
        role: ``""``, :data:`BASELINE` or :data:`DELTA`.

    Raises:
        ValueError: An unknown metric or kind.
    """
    if metric not in GAP_METRICS:
        raise ValueError(f"fairness metric {metric!r} is not one of {GAP_METRICS}")
    if kind not in _KINDS:
        raise ValueError(f"fairness key kind {kind!r} is not one of {_KINDS}")
    return str(FairnessKey(metric, feature, threshold_label(threshold), kind, role))


def parse_fairness_key(key: str) -> Optional[FairnessKey]:
    """Takes a fairness key apart; ``None`` for any other key (``auc``, ``max_fairness_gap``)."""
    role, figure = split_role(key)
    match = _FAIRNESS_KEY.match(figure)
    if match is None:
        return None
    try:
        float(match["threshold"])
    except ValueError:
        return None
    return FairnessKey(match["metric"], match["feature"], match["threshold"], match["kind"], role)
