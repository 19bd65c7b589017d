"""The sustainability report of a run: every step's energy and carbon, and what they bought.

Pure Python on plain dicts (the metadata of each step's ``Metrics``, the gate's blessing,
the deployment record), so it is testable without KFP. :func:`build_sustainability`
gathers the figures; :func:`render_html` and :func:`render_markdown` present them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from typing import Any, Mapping, Optional

from greenkfp.components._shared import html
from greenkfp.components._shared.errors import InputError

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
    ("gate", "evaluate_gate"),
    ("deployment", "deploy_model"),
)

#: Numeric energy keys every step logs to its Metrics (``EnergyReading.metrics()``).
ENERGY_KEYS = (
    "energy_kwh",
    "cpu_energy_kwh",
    "gpu_energy_kwh",
    "ram_energy_kwh",
    "emissions_kg_co2eq",
    "carbon_intensity_g_per_kwh",
    "duration_s",
)

#: (label, base key, compressed key, unit) of the before/after table.
BEFORE_AFTER = (
    ("Size (TFLite)", "base_bytes", "compressed_bytes", "bytes"),
    ("Size gzipped", "base_gzip_bytes", "compressed_gzip_bytes", "bytes"),
    ("Accuracy (eval)", "base_accuracy", "compressed_accuracy", ""),
    ("AUC (eval)", "base_auc", "compressed_auc", ""),
    ("Latency p50, batch 1", "base_latency_p50_ms", "compressed_latency_p50_ms", "ms"),
    ("Latency p95, batch 1", "base_latency_p95_ms", "compressed_latency_p95_ms", "ms"),
    (
        "Inference energy per 1,000 predictions",
        "base_inference_energy_kwh_per_1k",
        "compressed_inference_energy_kwh_per_1k",
        "kWh",
    ),
)

#: Compression ratios shown next to the table.
COMPRESSION_RATIOS = (
    "size_ratio",
    "gzip_size_ratio",
    "accuracy_drop",
    "auc_drop",
    "latency_speedup_p50",
    "inference_energy_ratio",
    "sparsity",
)

FAIRNESS_METRICS = (
    "false_positive_rate",
    "false_negative_rate",
    "positive_rate",
    "true_positive_rate",
)
_GAP_KEY = re.compile(
    r"^(?P<metric>" + "|".join(FAIRNESS_METRICS) + r")_gap_(?P<feature>.+)@(?P<threshold>[^@]+)$"
)

NOT_RUN = "not run"
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
class SustainabilityFigures:
    """Everything the report shows; ``None`` marks a part whose input was not given."""

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
    worst_fairness_gap: Optional[float]
    gate: Optional[dict[str, Any]]
    deployment: Optional[dict[str, Any]]
    sci: dict[str, Any]

    def metrics(self) -> dict[str, float]:
        """Returns the headline numbers for the ``Metrics`` output (unavailable ones left out)."""
        out = {
            "energy_kwh_total": self.energy_kwh_total,
            "emissions_kg_co2eq_total": self.emissions_kg_co2eq_total,
            "steps_reported": float(sum(s.ran for s in self.steps)),
        }
        if self.gate is not None:
            out["approved"] = float(bool(self.gate["approved"]))
        if self.deployment is not None:
            out["deployed"] = float(bool(self.deployment["deployed"]))
            out["deployed_version"] = float(self.deployment.get("version") or 0)
        if self.compression is not None:
            for name, key in (
                ("size_ratio", "size_ratio"),
                ("latency_speedup", "latency_speedup_p50"),
            ):
                if key in self.compression:
                    out[name] = self.compression[key]
        if self.worst_fairness_gap is not None:
            out["worst_fairness_gap"] = self.worst_fairness_gap
        if self.sci.get("sci_g_co2eq_per_1k_predictions") is not None:
            out["sci_g_co2eq_per_1k_predictions"] = self.sci["sci_g_co2eq_per_1k_predictions"]
        return {k: float(v) for k, v in out.items()}

    def to_dict(self) -> dict[str, Any]:
        """Returns every figure, JSON-ready (no NaN)."""
        record = dataclasses.asdict(self)
        record["metrics"] = self.metrics()
        return record


# ----------------------------------------------------------------------------- building


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


def _record(name: str, record: Any, required: str) -> Optional[dict[str, Any]]:
    if record is None:
        return None
    if not isinstance(record, Mapping):
        raise InputError(f"{name}: must be a dict, got {type(record).__name__}")
    if not isinstance(record.get(required), bool):
        raise InputError(f"{name}: has no boolean {required!r}")
    return dict(record)


def _gate(blessing: Optional[dict], gate_numbers: Optional[dict]) -> Optional[dict[str, Any]]:
    if blessing is not None:
        checks = blessing.get("checks") or []
        if not isinstance(checks, list) or not all(isinstance(c, Mapping) for c in checks):
            raise InputError("blessing: 'checks' must be a list of dicts")
        return {
            "approved": blessing["approved"],
            "reasons": [str(r) for r in blessing.get("reasons") or []],
            "checks": [
                {
                    "name": str(c.get("name", "")),
                    "metric": str(c.get("metric", "")),
                    "value": c.get("value"),
                    "comparison": str(c.get("comparison", "")),
                    "threshold": c.get("threshold"),
                    "verdict": str(c.get("verdict", "")),
                    "detail": str(c.get("detail", "")),
                }
                for c in checks
            ],
        }
    if gate_numbers and "approved" in gate_numbers:
        return {"approved": gate_numbers["approved"] >= 0.5, "reasons": [], "checks": None}
    return None


def _deployment(record: Optional[dict], numbers: Optional[dict]) -> Optional[dict[str, Any]]:
    if record is not None:
        return {
            "deployed": record["deployed"],
            "version": int(record.get("version") or 0),
            "pushed_uri": str(record.get("pushed_uri") or ""),
            "live": bool(record.get("live", False)),
            "reasons": [str(r) for r in record.get("reasons") or []],
        }
    if numbers and "deployed" in numbers:
        return {
            "deployed": numbers["deployed"] >= 0.5,
            "version": int(numbers.get("version", 0)),
            "pushed_uri": "",
            "live": numbers.get("live", 0.0) >= 0.5,
            "reasons": [],
        }
    return None


def _fairness(numbers: dict[str, float]) -> list[dict[str, Any]]:
    gaps = []
    for key, value in numbers.items():
        m = _GAP_KEY.match(key)
        if not m or m.group("feature").startswith("significant_"):
            continue
        ratio_key = f"{m.group('metric')}_ratio_{m.group('feature')}@{m.group('threshold')}"
        gaps.append(
            {
                "feature": m.group("feature"),
                "threshold": m.group("threshold"),
                "metric": m.group("metric"),
                "gap": value,
                "baseline_gap": numbers.get(f"baseline_{key}"),
                "delta": numbers.get(f"delta_{key}"),
                "ratio": numbers.get(ratio_key),
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


def build_sustainability(
    inputs: Mapping[str, Any],
    blessing: Any = None,
    deployment: Any = None,
    embodied_g_co2eq_per_1k: float = -1.0,
) -> SustainabilityFigures:
    """Gathers the figures of a run from the steps' metrics and records.

    Args:
        inputs: Metrics metadata of each step by the names of :data:`STEPS`; a missing
            name or ``None`` means the step did not run (or was not wired in).
        blessing: The gate's blessing record (``approved``, ``reasons``, ``checks``, and
            the gate's energy method and grid), or ``None``.
        deployment: The deploy record (``deployed``, ``version``, ``pushed_uri``, ...),
            or ``None``.
        embodied_g_co2eq_per_1k: Embodied emissions of serving per 1,000 predictions, in
            g CO2eq; negative means not given.

    Returns:
        The figures.

    Raises:
        InputError: When an input is not a dict, an energy figure is negative or NaN, a
            record lacks its boolean ``approved``/``deployed``, or ``inputs`` names an
            unknown step.
    """
    if not isinstance(inputs, Mapping):
        raise InputError(f"inputs must be a dict of step metrics, got {type(inputs).__name__}")
    unknown = sorted(set(inputs) - {name for name, _ in STEPS})
    if unknown:
        raise InputError(f"unknown step(s) {unknown}; expected some of {[n for n, _ in STEPS]}")
    embodied = float(embodied_g_co2eq_per_1k)
    if math.isnan(embodied):
        raise InputError("embodied_g_co2eq_per_1k must be a number (negative: not given)")
    numbers = {name: _numbers(f"{name}_metrics", inputs.get(name)) for name, _ in STEPS}
    blessing = _record("blessing", blessing, "approved")
    deployment = _record("deployment", deployment, "deployed")

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
    emissions = sum(s.energy.get("emissions_kg_co2eq", 0.0) for s in steps)
    duration = sum(s.energy.get("duration_s", 0.0) for s in steps)
    intensity = 1000.0 * emissions / energy if energy > 0 else None

    compression = numbers["compression"]
    fairness = numbers["fairness"]
    gaps = _fairness(fairness) if fairness is not None else None
    worst = None
    if fairness is not None:
        worst = fairness.get("max_fairness_gap")
        if worst is None and gaps:
            worst = max(g["gap"] for g in gaps)
    overall = None
    if fairness is not None:
        overall = {
            k: fairness[k]
            for key in ("auc", "accuracy", "precision", "recall", "example_count")
            for k in (key, f"baseline_{key}")
            if k in fairness
        }

    records = [blessing, deployment]
    return SustainabilityFigures(
        steps=steps,
        energy_kwh_total=energy,
        emissions_kg_co2eq_total=emissions,
        duration_s_total=duration,
        carbon_intensity_g_per_kwh=intensity,
        energy_method=", ".join(_strings(records, "energy_method")) or "see each step",
        country_iso_code=", ".join(_strings(records, "country_iso_code")),
        region=", ".join(_strings(records, "region")),
        compression=compression,
        fairness_gaps=gaps,
        fairness_overall=overall,
        worst_fairness_gap=worst,
        gate=_gate(blessing, numbers["gate"]),
        deployment=_deployment(deployment, numbers["deployment"]),
        sci=software_carbon_intensity(compression, intensity, embodied),
    )


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
    energy = (compression or {}).get("compressed_inference_energy_kwh_per_1k")
    if energy is None:
        out["note"] = (
            "not computed: compress_model's compressed_inference_energy_kwh_per_1k "
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
        neither holds the key (then :func:`build_sustainability` says what is missing).
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


# ----------------------------------------------------------------------------- rendering


def _g(kg: float) -> float:
    return 1000.0 * kg


def _note(text: str) -> str:
    return f'<p class="kv">{html.esc(text)}</p>'


def _not_run(what: str) -> str:
    return f'<p class="kv not-run">{html.esc(NOT_RUN)}: {html.esc(what)}</p>'


def _opt(value: Any) -> Any:
    return "–" if value is None else value


def _energy_section(f: SustainabilityFigures, own: Optional[Mapping[str, Any]]) -> list[str]:
    ran = [s for s in f.steps if s.ran]
    headline = html.tiles(
        [
            ("energy, total (kWh)", f.energy_kwh_total),
            ("emissions, total (kg CO2eq)", f.emissions_kg_co2eq_total),
            ("duration, total (s)", f.duration_s_total),
            ("steps reported", f"{len(ran)} of {len(f.steps)}"),
        ]
    )
    rows = []
    for s in f.steps:
        if not s.ran:
            rows.append([s.label, NOT_RUN, "", "", "", "", "", ""])
            continue
        e = s.energy
        rows.append(
            [s.label]
            + [
                _opt(e.get(k))
                for k in (
                    "energy_kwh",
                    "cpu_energy_kwh",
                    "gpu_energy_kwh",
                    "ram_energy_kwh",
                    "emissions_kg_co2eq",
                    "carbon_intensity_g_per_kwh",
                    "duration_s",
                )
            ]
        )
    rows.append(
        [
            "total",
            f.energy_kwh_total,
            "",
            "",
            "",
            f.emissions_kg_co2eq_total,
            "",
            f.duration_s_total,
        ]
    )
    headers = [
        "step",
        "energy (kWh)",
        "CPU (kWh)",
        "GPU (kWh)",
        "RAM (kWh)",
        "emissions (kg CO2eq)",
        "intensity (g/kWh)",
        "duration (s)",
    ]
    charts = ""
    if ran:
        labels = [s.label for s in ran]
        charts = (
            '<div class="grid"><div><h3>Energy per step (kWh)</h3>'
            + html.bar_chart(
                labels, [s.energy.get("energy_kwh", 0.0) for s in ran], 480, title="energy"
            )
            + "</div><div><h3>Emissions per step (g CO2eq)</h3>"
            + html.bar_chart(
                labels,
                [_g(s.energy.get("emissions_kg_co2eq", 0.0)) for s in ran],
                480,
                title="emissions",
            )
            + "</div></div>"
        )
    grid = [
        ("carbon intensity, run average (g CO2eq/kWh)", _opt(f.carbon_intensity_g_per_kwh)),
        ("energy method", f.energy_method),
        ("grid country / region", f"{f.country_iso_code or '–'} {f.region}".strip()),
    ]
    parts = [
        html.section("Energy and emissions per step", headline, charts, html.table(headers, rows)),
        html.section(
            "Carbon intensity and method",
            html.table(["", ""], grid),
            _note(
                "Each step meters itself with codecarbon; the method (RAPL, NVML or an "
                "estimate) and the grid are in each step's artifact metadata. The run "
                "average is total emissions / total energy."
            ),
        ),
    ]
    if own:
        parts.append(
            html.section(
                "This report step (not in the totals)",
                html.table(
                    ["", ""],
                    [
                        ("energy (kWh)", own.get("energy_kwh")),
                        ("emissions (kg CO2eq)", own.get("emissions_kg_co2eq")),
                        ("duration (s)", own.get("duration_s")),
                        ("method", own.get("energy_method")),
                    ],
                ),
            )
        )
    return parts


def _compression_section(f: SustainabilityFigures) -> str:
    title = "Model before and after compression"
    if f.compression is None:
        return html.section(title, _not_run("compress_model's metrics were not given"))
    c = f.compression
    rows = [
        (label, _opt(c.get(b)), _opt(c.get(a)), unit)
        for label, b, a, unit in BEFORE_AFTER
        if b in c or a in c
    ]
    ratios = [(k, c[k]) for k in COMPRESSION_RATIOS if k in c]
    return html.section(
        title,
        html.table(["", "base", "compressed", "unit"], rows),
        html.table(["ratio", "value"], ratios) if ratios else "",
    )


def _fairness_section(f: SustainabilityFigures) -> str:
    title = "Fairness gaps per feature"
    if f.fairness_gaps is None:
        return html.section(title, _not_run("evaluate_fairness's metrics were not given"))
    parts = []
    if f.fairness_overall:
        parts.append(html.table(["overall", "value"], sorted(f.fairness_overall.items())))
    if not f.fairness_gaps:
        parts.append(_note("No gap was recorded (fewer than two eligible slices per feature)."))
        return html.section(title, *parts)
    rows = [
        [
            g["feature"],
            g["threshold"],
            g["metric"],
            g["gap"],
            _opt(g["baseline_gap"]),
            _opt(g["delta"]),
            _opt(g["ratio"]),
        ]
        for g in f.fairness_gaps
    ]
    worst: dict[str, float] = {}
    for g in f.fairness_gaps:
        worst[g["feature"]] = max(worst.get(g["feature"], 0.0), g["gap"])
    parts.append(
        "<h3>Largest gap per feature (compressed / candidate model)</h3>"
        + html.bar_chart(list(worst), list(worst.values()), 480, title="largest gap per feature")
    )
    parts.append(
        html.table(
            [
                "feature",
                "threshold",
                "metric",
                "gap (candidate)",
                "gap (baseline)",
                "change",
                "ratio",
            ],
            rows,
        )
    )
    parts.append(
        _note(
            f"Worst gap: {html.fmt(f.worst_fairness_gap)}. The baseline columns are filled "
            "when evaluate_fairness was given a baseline model (the uncompressed one)."
        )
    )
    return html.section(title, *parts)


def _verdict_cell(verdict: str) -> str:
    return verdict.upper() if verdict == "fail" else verdict


def _gate_section(f: SustainabilityFigures) -> str:
    title = "Deployment gate"
    if f.gate is None:
        return html.section(title, _not_run("evaluate_gate's blessing was not given"))
    g = f.gate
    parts = [html.tiles([("gate", "APPROVED" if g["approved"] else "REFUSED")])]
    if g["checks"] is None:
        parts.append(_note("Only the gate's metrics were given: the checks are in its blessing."))
    else:
        rows = [
            [
                c["name"],
                c["metric"],
                _opt(c["value"]),
                f"{c['comparison']} {html.fmt(c['threshold'])}",
                _verdict_cell(c["verdict"]),
                c["detail"],
            ]
            for c in g["checks"]
        ]
        parts.append(
            html.table(["check", "metric read", "value", "threshold", "verdict", "detail"], rows)
        )
    if g["reasons"]:
        items = "".join(f"<li>{html.esc(r)}</li>" for r in g["reasons"])
        parts.append(f'<ul class="bad">{items}</ul>')
    return html.section(title, *parts)


def _deployment_section(f: SustainabilityFigures) -> str:
    title = "Deployment outcome"
    if f.deployment is None:
        return html.section(title, _not_run("deploy_model's outputs were not given"))
    d = f.deployment
    rows = [
        ("deployed", "yes" if d["deployed"] else "no"),
        ("version", d["version"]),
        ("live", "yes" if d["live"] else "no"),
        ("pushed to", d["pushed_uri"] or "–"),
    ]
    items = "".join(f"<li>{html.esc(r)}</li>" for r in d["reasons"])
    return html.section(title, html.table(["", ""], rows), f"<ul>{items}</ul>" if items else "")


def _sci_section(f: SustainabilityFigures) -> str:
    title = "Software Carbon Intensity of serving, per 1,000 predictions"
    s = f.sci
    if s["sci_g_co2eq_per_1k_predictions"] is None:
        return html.section(title, _not_run(s["note"]), _note(EMBODIED_NOT_INCLUDED))
    rows = [
        ("operational energy per 1,000 predictions (kWh)", s["energy_kwh_per_1k"]),
        ("carbon intensity (g CO2eq/kWh)", s["carbon_intensity_g_per_kwh"]),
        ("intensity from", s["intensity_source"]),
        ("operational emissions (g CO2eq)", s["operational_g_co2eq_per_1k"]),
        ("embodied emissions (g CO2eq)", _opt(s["embodied_g_co2eq_per_1k"])),
        ("SCI (g CO2eq per 1,000 predictions)", s["sci_g_co2eq_per_1k_predictions"]),
    ]
    return html.section(
        title,
        html.tiles([("SCI, g CO2eq per 1,000 predictions", s["sci_g_co2eq_per_1k_predictions"])]),
        html.table(["", ""], rows),
        _note(
            "SCI = (E × I) + M per functional unit (1,000 predictions), after the Green "
            "Software Foundation's specification. E is the compressed model's inference "
            "energy measured by compress_model. " + s["note"]
        ),
    )


def render_html(figures: SustainabilityFigures, own: Optional[Mapping[str, Any]] = None) -> str:
    """Renders the report as one self-contained HTML page (inline CSS and SVG).

    Args:
        figures: What :func:`build_sustainability` returned.
        own: This step's own energy reading (``EnergyReading.to_dict()``), optional.

    Returns:
        The HTML document.
    """
    reported = sum(s.ran for s in figures.steps)
    return html.page(
        "Sustainability report",
        [
            *_energy_section(figures, own),
            _compression_section(figures),
            _fairness_section(figures),
            _gate_section(figures),
            _deployment_section(figures),
            _sci_section(figures),
        ],
        subtitle=f"{reported} of {len(figures.steps)} steps reported their figures",
    )


def _md(value: Any) -> str:
    return "–" if value is None else html.fmt(value)


def render_markdown(figures: SustainabilityFigures) -> str:
    """Renders a short Markdown summary (the KFP UI shows it as is).

    Args:
        figures: What :func:`build_sustainability` returned.

    Returns:
        The Markdown text.
    """
    f = figures
    lines = [
        "# Sustainability summary",
        "",
        f"- Energy, total: **{_md(f.energy_kwh_total)} kWh**; emissions, total: "
        f"**{_md(f.emissions_kg_co2eq_total)} kg CO2eq** over "
        f"{sum(s.ran for s in f.steps)} of {len(f.steps)} steps",
        f"- Carbon intensity (run average): {_md(f.carbon_intensity_g_per_kwh)} g CO2eq/kWh; "
        f"method: {f.energy_method}",
        "",
        "| step | energy (kWh) | emissions (kg CO2eq) | duration (s) |",
        "|---|---:|---:|---:|",
    ]
    for s in f.steps:
        if s.ran:
            e = s.energy
            lines.append(
                f"| {s.label} | {_md(e.get('energy_kwh'))} | "
                f"{_md(e.get('emissions_kg_co2eq'))} | {_md(e.get('duration_s'))} |"
            )
        else:
            lines.append(f"| {s.label} | {NOT_RUN} | | |")
    lines.append("")
    if f.compression is None:
        lines.append(f"- Compression: {NOT_RUN}")
    else:
        c = f.compression
        lines.append(
            f"- Compression: size ratio {_md(c.get('size_ratio'))}, p50 latency speed-up "
            f"{_md(c.get('latency_speedup_p50'))}, accuracy {_md(c.get('base_accuracy'))} → "
            f"{_md(c.get('compressed_accuracy'))}, inference energy per 1k "
            f"{_md(c.get('base_inference_energy_kwh_per_1k'))} → "
            f"{_md(c.get('compressed_inference_energy_kwh_per_1k'))} kWh"
        )
    if f.fairness_gaps is None:
        lines.append(f"- Fairness: {NOT_RUN}")
    else:
        lines.append(f"- Fairness: worst gap {_md(f.worst_fairness_gap)}")
    if f.gate is None:
        lines.append(f"- Gate: {NOT_RUN}")
    else:
        verdict = "APPROVED" if f.gate["approved"] else "REFUSED"
        lines.append(f"- Gate: **{verdict}**")
        for c in f.gate["checks"] or []:
            lines.append(f"  - {c['name']}: {_md(c['value'])} ({c['verdict']})")
    if f.deployment is None:
        lines.append(f"- Deployment: {NOT_RUN}")
    elif f.deployment["deployed"]:
        lines.append(f"- Deployment: version {f.deployment['version']} pushed")
    else:
        lines.append("- Deployment: not deployed: " + "; ".join(f.deployment["reasons"]))
    sci = f.sci
    if sci["sci_g_co2eq_per_1k_predictions"] is None:
        lines.append(f"- SCI per 1,000 predictions: {sci['note']}")
    else:
        lines.append(
            f"- SCI per 1,000 predictions: **{_md(sci['sci_g_co2eq_per_1k_predictions'])} "
            f"g CO2eq** ({sci['note']})"
        )
    return "\n".join(lines) + "\n"


def write_outputs(
    figures: SustainabilityFigures,
    own: Optional[Mapping[str, Any]],
    html_path: str,
    markdown_path: str,
) -> None:
    """Writes the HTML report and the Markdown summary.

    Args:
        figures: What :func:`build_sustainability` returned.
        own: This step's own energy reading, optional.
        html_path: Where the HTML goes.
        markdown_path: Where the Markdown goes.
    """
    for path, text in (
        (html_path, render_html(figures, own)),
        (markdown_path, render_markdown(figures)),
    ):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
