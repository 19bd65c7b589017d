"""What the ``sustainability_report`` component does: :func:`run_sustainability_report`.

The figures of a run: every step's energy and carbon, what they bought, and the SCI.
Pure Python on plain dicts (the metadata of each step's ``Metrics``, the gate's blessing,
the deployment record), so it is testable without KFP. :func:`run_sustainability_report`
reads the step records and does the arithmetic; ``report.py`` renders what it returns.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Iterable, Mapping, Optional

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.grid_intensity import run_emissions
from greenkfp.components._shared.step_keys import (
    BASELINE,
    COMPRESSED_INFERENCE_ENERGY,
    DELTA,
    ENERGY_HIGH,
    ENERGY_KEYS,
    ENERGY_LOW,
    GAP,
    KEPLER_ENERGY,
    QUALITY_KEYS,
    RATIO,
    parse_fairness_key,
    with_role,
)
from greenkfp.components._shared.step_records import (
    RUN_FIGURES_KEY,
    BlessingRecord,
    DeploymentRecord,
    RunOutcome,
)

#: (input name, label) of every step whose Metrics the report reads, in pipeline order.
STEPS = (
    ("import", "import_csv"),
    ("train_statistics", "statistics (train)"),
    ("eval_statistics", "statistics (eval)"),
    ("schema", "infer_schema"),
    ("validation", "validate_data"),
    ("training", "train_model"),
    ("compression", "compress_model"),
    ("fairness", "evaluate_fairness"),
    ("mitigation", "mitigate_fairness"),
    ("gate", "evaluate_gate"),
    ("deployment", "deploy_model"),
)

EMBODIED_NOT_INCLUDED = (
    "Embodied emissions (manufacturing of the serving hardware) are not included: "
    "none were given (embodied_g_co2eq_per_1k)."
)


@dataclasses.dataclass
class StepFigures:
    """Energy and carbon of one step, or ``ran=False`` when its Metrics were not given."""

    name: str
    label: str
    ran: bool
    energy: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RunFigures:
    """Everything the report shows; ``None`` marks a part whose input was not given.

    ``gate`` and ``deployment`` are what the report shows of the blessing and the
    deployment record (``gate["checks"]`` is ``None`` when only the gate's metrics were
    given); ``outcome`` is the run's decision and headline figures.
    """

    steps: list[StepFigures]
    energy_kwh_total: float
    emissions_kg_co2eq_total: float
    duration_s_total: float
    carbon_intensity_g_per_kwh: Optional[float]
    energy_method: str
    country_iso_code: str
    region: str
    compression: Optional[dict[str, float]]
    fairness_gaps: Optional[list[dict[str, Any]]]
    fairness_overall: Optional[dict[str, float]]
    gate: Optional[dict[str, Any]]
    deployment: Optional[dict[str, Any]]
    outcome: RunOutcome
    sci: dict[str, Any]
    energy_kwh_total_low: float = 0.0
    energy_kwh_total_high: float = 0.0
    kepler_energy_kwh_total: Optional[float] = None
    kepler_steps: int = 0
    carbon: dict[str, Any] = dataclasses.field(default_factory=dict)
    """The steps' emissions as run, at the annual average and at the best window
    (``grid_intensity.run_emissions``)."""
    attributions: Optional[dict[str, Any]] = None
    """The deployed version's ``attributions.json`` (global and per sensitive slice), if any."""
    mitigation: Optional[dict[str, Any]] = None
    """The fairness mitigation record (``_shared/mitigation_record``), if given."""

    @property
    def worst_fairness_gap(self) -> Optional[float]:
        """The largest fairness gap of the evaluated model, when fairness was given."""
        return self.outcome.worst_fairness_gap

    @property
    def figures(self) -> dict[str, float]:
        """The headline numbers for the ``Metrics`` output (unavailable ones left out)."""
        out = {
            "energy_kwh_total": self.energy_kwh_total,
            "energy_kwh_total_low": self.energy_kwh_total_low,
            "energy_kwh_total_high": self.energy_kwh_total_high,
            "emissions_kg_co2eq_total": self.emissions_kg_co2eq_total,
            "steps_reported": float(sum(s.ran for s in self.steps)),
        }
        o = self.outcome
        if o.approved is not None:
            out["approved"] = float(o.approved)
        if o.deployed is not None:
            out["deployed"] = float(o.deployed)
            out["deployed_version"] = float(o.deployed_version or 0)
        for name in ("size_ratio", "latency_speedup", "worst_fairness_gap"):
            if getattr(o, name) is not None:
                out[name] = getattr(o, name)
        if self.kepler_energy_kwh_total is not None:
            out["kepler_energy_kwh_total"] = self.kepler_energy_kwh_total
        if self.carbon.get("steps_metered"):
            out["emissions_kg_co2eq_annual_average_total"] = self.carbon[
                "emissions_kg_annual_average"
            ]
            out["emissions_kg_co2eq_best_window_total"] = self.carbon["emissions_kg_best_window"]
        if self.sci.get("sci_g_co2eq_per_1k_predictions") is not None:
            out["sci_g_co2eq_per_1k_predictions"] = self.sci["sci_g_co2eq_per_1k_predictions"]
        return {k: float(v) for k, v in out.items()}

    def to_dict(self) -> dict[str, Any]:
        """Returns every figure, JSON-ready (no NaN)."""
        record = dataclasses.asdict(self)
        record["metrics"] = self.figures
        return record

    @property
    def metadata(self) -> dict[str, Any]:
        """Every figure under :data:`RUN_FIGURES_KEY`, for the report's and summary's metadata."""
        return {RUN_FIGURES_KEY: self.to_dict()}


def _numbers(name: str, metadata: Any) -> Optional[dict[str, float]]:
    """Checks one input's metadata and keeps its finite numbers."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise InputError(f"{name}: metrics must be a dict, got {type(metadata).__name__}")
    out = {}
    for key, value in metadata.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if key in ENERGY_KEYS and (math.isnan(value) or value < 0):
            raise InputError(f"{name}: {key} must be a number >= 0, got {value!r}")
        if math.isfinite(value):
            out[str(key)] = float(value)
    return out


def _blessing(
    blessing: Any, gate_numbers: Optional[dict[str, float]]
) -> tuple[Optional[BlessingRecord], Optional[dict[str, Any]]]:
    """The blessing (from its record, else the gate's metrics) and what the report shows."""
    if blessing is not None:
        record = BlessingRecord.from_dict(blessing)
        checks = [c.to_dict() for c in record.checks]
        return record, {"approved": record.approved, "reasons": record.reasons, "checks": checks}
    record = BlessingRecord.from_figures(gate_numbers or {})
    if record is not None:
        return record, {"approved": record.approved, "reasons": [], "checks": None}
    return None, None


def _deployment(record: Any, numbers: Optional[dict[str, float]]) -> Optional[DeploymentRecord]:
    """The deployment record, else what deploy_model's metrics say of it."""
    if record is not None:
        return DeploymentRecord.from_dict(record)
    return DeploymentRecord.from_figures(numbers or {})


def _fairness_gaps(numbers: dict[str, float]) -> list[dict[str, Any]]:
    """Every gap of the evaluated model, with its baseline, change and ratio when given."""
    gaps = []
    for key, value in numbers.items():
        parsed = parse_fairness_key(key)
        if parsed is None or not parsed.is_metric or parsed.kind != GAP:
            continue
        gaps.append(
            {
                "feature": parsed.feature,
                "threshold": parsed.threshold,
                "metric": parsed.metric,
                "gap": value,
                "baseline_gap": numbers.get(str(parsed.replace(role=BASELINE))),
                "delta": numbers.get(str(parsed.replace(role=DELTA))),
                "ratio": numbers.get(str(parsed.replace(kind=RATIO))),
            }
        )
    return sorted(gaps, key=lambda g: (g["feature"], g["threshold"], g["metric"]))


def _strings(records: list[Optional[Mapping[str, Any]]], key: str) -> list[str]:
    values = []
    for record in records:
        value = str((record or {}).get(key) or "")
        if value and value not in values:
            values.append(value)
    return values


def run_sustainability_report(
    *,
    step_metrics: Mapping[str, Any],
    blessing: Any = None,
    deployment: Any = None,
    embodied_g_co2eq_per_1k: float = -1.0,
    attributions: Any = None,
    mitigation: Optional[Mapping[str, Any]] = None,
) -> RunFigures:
    """Gathers the figures of a run from the steps' metrics and records.

    Args:
        step_metrics: Metrics metadata of each step by the names of :data:`STEPS`; a missing
            name or ``None`` means the step did not run (or was not wired in).
        blessing: The gate's blessing record (``approved``, ``reasons``, ``checks``, and
            the gate's energy method and grid), or ``None``.
        deployment: The deploy record (``deployed``, ``version``, ``pushed_uri``, ...),
            or ``None``.
        embodied_g_co2eq_per_1k: Embodied emissions of serving per 1,000 predictions, in
            g CO2eq; negative means not given.
        attributions: The deployed version's feature attributions (``attributions.json``,
            see :func:`read_attributions`), or ``None``.
        mitigation: The fairness mitigation record (``mitigation.json``), or ``None``.

    Returns:
        The figures.

    Raises:
        InputError: When an input is not a dict, an energy figure is negative or NaN, a
            record lacks its boolean ``approved``/``deployed``, or ``step_metrics`` names
            an unknown step.
    """
    if not isinstance(step_metrics, Mapping):
        raise InputError(
            f"step_metrics must be a dict of step metrics, got {type(step_metrics).__name__}"
        )
    unknown = sorted(set(step_metrics) - {name for name, _ in STEPS})
    if unknown:
        raise InputError(f"unknown step(s) {unknown}; expected some of {[n for n, _ in STEPS]}")
    embodied = float(embodied_g_co2eq_per_1k)
    if math.isnan(embodied):
        raise InputError("embodied_g_co2eq_per_1k must be a number (negative: not given)")
    numbers = {name: _numbers(f"{name}_metrics", step_metrics.get(name)) for name, _ in STEPS}
    blessing_record, gate = _blessing(blessing, numbers["gate"])
    deployment_record = _deployment(deployment, numbers["deployment"])

    steps = [
        StepFigures(
            name,
            label,
            numbers[name] is not None,
            {k: numbers[name][k] for k in ENERGY_KEYS if k in numbers[name]}
            if numbers[name] is not None
            else {},
        )
        for name, label in STEPS
    ]
    energy = sum(s.energy.get("energy_kwh", 0.0) for s in steps)
    low, high = energy_bound(s.energy for s in steps)
    kepler = [s.energy[KEPLER_ENERGY] for s in steps if KEPLER_ENERGY in s.energy]
    emissions = sum(s.energy.get("emissions_kg_co2eq", 0.0) for s in steps)
    duration = sum(s.energy.get("duration_s", 0.0) for s in steps)
    intensity = 1000.0 * emissions / energy if energy > 0 else None

    compression = numbers["compression"]
    fairness = numbers["fairness"]
    overall = None
    if fairness is not None:
        overall = {
            k: fairness[k]
            for key in QUALITY_KEYS
            for k in (key, with_role(BASELINE, key))
            if k in fairness
        }

    records = [blessing, deployment]
    return RunFigures(
        steps=steps,
        energy_kwh_total=energy,
        emissions_kg_co2eq_total=emissions,
        duration_s_total=duration,
        carbon_intensity_g_per_kwh=intensity,
        energy_method=", ".join(_strings(records, "energy_method")) or "see each step",
        country_iso_code=", ".join(_strings(records, "country_iso_code")),
        region=", ".join(_strings(records, "region")),
        compression=compression,
        fairness_gaps=_fairness_gaps(fairness) if fairness is not None else None,
        fairness_overall=overall,
        gate=gate,
        deployment=deployment_record.metadata if deployment_record else None,
        outcome=RunOutcome.from_records(blessing_record, deployment_record, compression, fairness),
        sci=software_carbon_intensity(compression, intensity, embodied),
        energy_kwh_total_low=low,
        energy_kwh_total_high=high,
        kepler_energy_kwh_total=sum(kepler) if kepler else None,
        kepler_steps=len(kepler),
        carbon=run_emissions(s.energy if s.ran else None for s in steps),
        attributions=_attributions(attributions),
        mitigation=dict(mitigation) if mitigation else None,
    )


def _attributions(data: Any) -> Optional[dict[str, Any]]:
    """Checks the shape of ``attributions.json``: a ``global`` list of feature importances."""
    if data is None:
        return None
    ranked = data.get("global") if isinstance(data, Mapping) else None
    if not isinstance(ranked, list) or not all(
        isinstance(i, Mapping) and "feature" in i and "auc_drop" in i for i in ranked
    ):
        raise InputError(
            "attributions: expected {'global': [{'feature', 'auc_drop', 'std'}, ...], "
            "'slices': {...}} as deploy_model writes it"
        )
    return json.loads(json.dumps(data))


def read_attributions(deployment: Optional[Mapping[str, Any]]) -> Optional[dict[str, Any]]:
    """The deployed version's ``attributions.json``; None when nothing was deployed or it has none.

    Raises:
        InputError: The file is there but not JSON.
    """
    from greenkfp.components._shared import io as uri_io
    from greenkfp.components._shared.registry_reading import ATTRIBUTIONS_FILE

    pushed = str((deployment or {}).get("pushed_uri") or "")
    if not (deployment or {}).get("deployed") or not pushed:
        return None
    path = uri_io.join(pushed, ATTRIBUTIONS_FILE)
    if not uri_io.exists(path):
        return None
    try:
        return json.loads(uri_io.read_bytes(path))
    except ValueError as err:
        raise InputError(f"{path} is not JSON: {err}") from err


def energy_bound(readings: Iterable[Mapping[str, Any]]) -> tuple[float, float]:
    """The low and high bound of a sum of steps' energy: the sums of their bounds.

    A step that records no bound (a reading from before bounds existed) counts at its
    ``energy_kwh`` in both.

    Args:
        readings: Each step's energy figures (``energy_kwh``, ``energy_kwh_low``, ...).

    Returns:
        (low, high) in kWh.
    """
    low = high = 0.0
    for reading in readings:
        value = float(reading.get("energy_kwh", 0.0))
        low += float(reading.get(ENERGY_LOW, value))
        high += float(reading.get(ENERGY_HIGH, value))
    return low, high


def software_carbon_intensity(
    compression: Optional[Mapping[str, float]],
    run_intensity: Optional[float],
    embodied_g_co2eq_per_1k: float = -1.0,
) -> dict[str, Any]:
    """SCI of serving per 1,000 predictions: operational energy x intensity (+ embodied).

    The operational energy is compress_model's measured inference energy of the
    compressed model per 1,000 predictions; the intensity is the grid intensity of that
    step, else the run's average (total emissions / total energy).

    Args:
        compression: compress_model's metrics, or ``None``.
        run_intensity: The run's average carbon intensity, g CO2eq per kWh, if known.
        embodied_g_co2eq_per_1k: Embodied part in g CO2eq per 1,000 predictions;
            negative means not given (then it is not included).

    Returns:
        ``energy_kwh_per_1k``, ``carbon_intensity_g_per_kwh``, ``intensity_source``,
        ``operational_g_co2eq_per_1k``, ``embodied_g_co2eq_per_1k`` (``None`` when not
        given), ``sci_g_co2eq_per_1k_predictions`` (``None`` when not computable) and
        ``note``.
    """
    embodied = embodied_g_co2eq_per_1k if embodied_g_co2eq_per_1k >= 0 else None
    out: dict[str, Any] = {
        "energy_kwh_per_1k": None,
        "carbon_intensity_g_per_kwh": None,
        "intensity_source": "",
        "operational_g_co2eq_per_1k": None,
        "embodied_g_co2eq_per_1k": embodied,
        "sci_g_co2eq_per_1k_predictions": None,
        "note": "",
    }
    energy = (compression or {}).get(COMPRESSED_INFERENCE_ENERGY)
    if energy is None:
        out["note"] = (
            f"not computed: compress_model's {COMPRESSED_INFERENCE_ENERGY} "
            "was not given (compression not run)"
        )
        return out
    if (compression or {}).get("carbon_intensity_g_per_kwh", 0.0) > 0:
        intensity, source = compression["carbon_intensity_g_per_kwh"], "compress_model's grid"
    elif run_intensity is not None:
        intensity, source = run_intensity, "the run's average (emissions / energy)"
    else:
        out["note"] = "not computed: no carbon intensity is known"
        return out
    operational = energy * intensity
    out.update(
        energy_kwh_per_1k=energy,
        carbon_intensity_g_per_kwh=intensity,
        intensity_source=source,
        operational_g_co2eq_per_1k=operational,
        sci_g_co2eq_per_1k_predictions=operational + (embodied or 0.0),
        note=(
            "The SCI includes operational and embodied emissions."
            if embodied is not None
            else "The SCI is operational only. " + EMBODIED_NOT_INCLUDED
        ),
    )
    return out


def read_record(metadata: Mapping[str, Any], path: str, required: str) -> Optional[dict]:
    """An artifact's record: its metadata when it holds ``required``, else its JSON file.

    Args:
        metadata: The artifact's metadata.
        path: The artifact's local path (the JSON file written by the producing step).
        required: The key that marks a complete record (``approved``, ``deployed``).

    Returns:
        The record (the metadata's energy strings kept), or the metadata as it is when
        neither holds the key (then :func:`run_sustainability_report` says what is missing).
    """
    record = dict(metadata)
    if required not in record and path and os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                loaded = json.load(f)
        except (OSError, ValueError) as err:
            raise InputError(f"{path}: not a JSON record ({err})") from err
        if isinstance(loaded, dict):
            record = {**loaded, **record}
    return record
