"""The sustainability report of a run, rendered as one HTML page (the summary: ``summary``).

What it shows comes from ``task.py`` (:func:`~task.run_sustainability_report`); here it
is only presented. The component writes both texts to its outputs.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from greenkfp.components._shared import html
from greenkfp.components._shared.mitigation_record import render_section
from greenkfp.components._shared.step_keys import (
    COMPRESSION_BEFORE_AFTER,
    COMPRESSION_RATIOS,
    ENERGY_FIGURES,
    ENERGY_HIGH,
    ENERGY_LOW,
    KEPLER_ENERGY,
)
from greenkfp.components.sustainability.task import EMBODIED_NOT_INCLUDED, RunFigures

NOT_RUN = "not run"


def _g(kg: float) -> float:
    return 1000.0 * kg


def _note(text: str) -> str:
    return f'<p class="kv">{html.esc(text)}</p>'


def _not_run(what: str) -> str:
    return f'<p class="kv not-run">{html.esc(NOT_RUN)}: {html.esc(what)}</p>'


def _opt(value: Any) -> Any:
    return "–" if value is None else value


def bound_text(low: Optional[float], high: Optional[float]) -> str:
    """An energy bound as ``low – high``, or a dash when unknown."""
    if low is None or high is None:
        return "–"
    return f"{html.fmt(low)} – {html.fmt(high)}"


def kepler_text(f: RunFigures) -> str:
    """Kepler's total beside codecarbon's, or why there is none."""
    if f.kepler_energy_kwh_total is None:
        return "no Kepler figure (no Prometheus configured, or it did not answer)"
    return f"{html.fmt(f.kepler_energy_kwh_total)} kWh over {f.kepler_steps} step(s)"


def _energy_section(f: RunFigures, own: Optional[Mapping[str, Any]]) -> list[str]:
    ran = [s for s in f.steps if s.ran]
    headline = html.tiles(
        [
            ("energy, total (kWh)", f.energy_kwh_total),
            (
                "energy bound, total (kWh)",
                bound_text(f.energy_kwh_total_low, f.energy_kwh_total_high),
            ),
            ("emissions, total (kg CO2eq)", f.emissions_kg_co2eq_total),
            ("duration, total (s)", f.duration_s_total),
            ("steps reported", f"{len(ran)} of {len(f.steps)}"),
        ]
    )
    totals = {
        "energy_kwh": f.energy_kwh_total,
        "emissions_kg_co2eq": f.emissions_kg_co2eq_total,
        "duration_s": f.duration_s_total,
    }
    extra = ["energy bound (kWh)", "Kepler, pod CPU (kWh)"]
    rows = [
        [s.label]
        + [_opt(s.energy.get(e.key)) for e in ENERGY_FIGURES]
        + [
            bound_text(s.energy.get(ENERGY_LOW), s.energy.get(ENERGY_HIGH)),
            _opt(s.energy.get(KEPLER_ENERGY)),
        ]
        if s.ran
        else [s.label, NOT_RUN] + [""] * (len(ENERGY_FIGURES) - 1 + len(extra))
        for s in f.steps
    ]
    rows.append(
        ["total"]
        + [totals.get(e.key, "") for e in ENERGY_FIGURES]
        + [
            bound_text(f.energy_kwh_total_low, f.energy_kwh_total_high),
            _opt(f.kepler_energy_kwh_total),
        ]
    )
    headers = ["step"] + [e.heading for e in ENERGY_FIGURES] + extra
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
        ("Kepler cross-check, total", kepler_text(f)),
        ("grid country / region", f"{f.country_iso_code or '–'} {f.region}".strip()),
    ]
    parts = [
        html.section("Energy and emissions per step", headline, charts, html.table(headers, rows)),
        html.section(
            "Carbon intensity and method",
            html.table(["", ""], grid),
            _note(
                "Each step meters itself with codecarbon; the method (RAPL, NVML or an "
                "estimate) and the grid are in each step's artifact metadata. A step's "
                "energy is its own process's share of the node (CPU time, memory), with a "
                "low/high bound that follows from the method (counters: 10 %; TDP "
                "estimates: the TDP range; RAM: a factor of 2); the total's bound is the "
                "sum of the steps' bounds. Kepler's column, where a Prometheus was "
                "configured, is Kepler's CPU energy for the step's pod over the same "
                "window (CPU only). The run average is total emissions / total energy."
            ),
        ),
    ]
    if own:
        parts.append(
            html.section(
                "This report step (not in the totals)",
                html.table(["", ""], html.energy_rows(own)),
            )
        )
    return parts


def _carbon_section(f: RunFigures, own: Optional[Mapping[str, Any]]) -> str:
    """Emissions as run, at the annual average and at the best window, per step and in total."""
    c = f.carbon
    title = "Emissions as run, at the annual average, at the best window"
    if not c or not c["steps_metered"]:
        return html.section(title, _not_run("no step's energy figures were given"))
    ran = [s for s in f.steps if s.ran]
    rows = []
    for s in ran:
        e = s.energy
        as_run = e.get("emissions_kg_co2eq")
        rows.append(
            [
                s.label,
                _opt(as_run),
                _opt(e.get("emissions_kg_co2eq_annual_average", as_run)),
                _opt(e.get("emissions_kg_co2eq_best_window")),
                _opt(e.get("carbon_intensity_g_per_kwh")),
                _opt(e.get("carbon_intensity_annual_average_g_per_kwh")),
                _opt(e.get("carbon_intensity_best_window_g_per_kwh")),
            ]
        )
    totals = [c["emissions_kg_as_run"], c["emissions_kg_annual_average"]]
    rows.append(["total", *totals, c["emissions_kg_best_window"], "", "", ""])
    source = str((own or {}).get("carbon_intensity_source") or "not known")
    if c["steps_priced"]:
        note = (
            f"{c['steps_priced']} of {c['steps_metered']} steps were priced at the intensity "
            f"of their own time and place (this report step's source: {source}). The best "
            "window is the cleanest window of the step's length within 24 h either side in "
            "the provider's data; steps no provider priced count at their annual-average "
            "figure in every column."
        )
    else:
        note = (
            "No provider priced the steps, so all three are codecarbon's annual country "
            "average: set GREENKFP_GRID_LOCATION and a provider (see the README)."
        )
    why = str((own or {}).get("carbon_intensity_note") or "")
    return html.section(
        title,
        html.tiles(
            [
                ("as run (kg CO2eq)", c["emissions_kg_as_run"]),
                ("at the annual average (kg CO2eq)", c["emissions_kg_annual_average"]),
                ("at the best window (kg CO2eq)", c["emissions_kg_best_window"]),
            ]
        ),
        html.table(
            [
                "step",
                "as run (kg CO2eq)",
                "annual average (kg CO2eq)",
                "best window (kg CO2eq)",
                "intensity as run (g/kWh)",
                "annual average (g/kWh)",
                "best window (g/kWh)",
            ],
            rows,
        ),
        _note(note),
        _note(f"This report step: {why}") if why else "",
    )


def _compression_section(f: RunFigures) -> str:
    title = "Model before and after compression"
    if f.compression is None:
        return html.section(title, _not_run("compress_model's metrics were not given"))
    c = f.compression
    rows = [
        (b.label, _opt(c.get(b.base_key)), _opt(c.get(b.compressed_key)), b.unit)
        for b in COMPRESSION_BEFORE_AFTER
        if b.base_key in c or b.compressed_key in c
    ]
    ratios = [(r.label, c[r.key]) for r in COMPRESSION_RATIOS if r.key in c]
    return html.section(
        title,
        html.table(["", "base", "compressed", "unit"], rows),
        html.table(["ratio", "value"], ratios) if ratios else "",
    )


def _fairness_section(f: RunFigures) -> str:
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


def _gate_section(f: RunFigures) -> str:
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


def _deployment_section(f: RunFigures) -> str:
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


TOP_FEATURES = 10
"""Features each attribution chart shows (the globally most important)."""


def _importances(ranked: Any) -> dict[str, tuple[float, float]]:
    """``feature -> (mean AUC drop, std)`` of one ranking in ``attributions.json``."""
    out = {}
    for imp in ranked or []:
        mean, std = imp.get("auc_drop"), imp.get("std", 0.0)
        if isinstance(mean, (int, float)) and isinstance(std, (int, float)):
            out[str(imp["feature"])] = (float(mean), float(std))
    return out


def _attribution_chart(features: list[str], found: dict[str, tuple[float, float]]) -> str:
    shown = [f for f in features if f in found]
    return html.bar_chart(
        shown,
        [found[f][0] for f in shown],
        480,
        title="AUC drop when shuffled",
        errors=[found[f][1] for f in shown],
    )


def _attribution_section(f: RunFigures) -> str:
    """The deployed model's feature attributions: global, then per sensitive slice."""
    title = "Feature attributions of the deployed model"
    a = f.attributions
    if not a:
        return html.section(
            title, _not_run("no version was deployed, or it has no attributions.json")
        )
    overall = _importances(a.get("global"))
    top = list(overall)[:TOP_FEATURES]
    parts = [
        _note(
            f"{a.get('method', 'permutation importance')} on {a.get('rows', '?')} eval rows "
            f"(ROC AUC {html.fmt(a.get('baseline_auc'))}): how much the deployed model's AUC "
            "drops when one feature is shuffled; the error bars are ± one standard deviation "
            f"over the shuffles. The {len(top)} globally most important features are shown."
        ),
        "<h3>All eval rows</h3>" + _attribution_chart(top, overall),
    ]
    slices = a.get("slices") or {}
    columns, cells = ["feature", "all rows"], {feat: [overall[feat]] for feat in top}
    for sensitive, values in sorted(slices.items()):
        charts = []
        for value, ranked in sorted(values.items()):
            found = _importances(ranked)
            columns.append(f"{sensitive} = {value}")
            for feat in top:
                cells[feat].append(found.get(feat))
            charts.append(
                f"<div><h3>{html.esc(sensitive)} = {html.esc(value)}</h3>"
                + _attribution_chart(top, found)
                + "</div>"
            )
        parts.append(f'<div class="grid">{"".join(charts)}</div>')
    if not slices:
        parts.append(_note("No sensitive slice was large enough (or fairness was not given)."))
    rows = [
        [feat] + [f"{html.fmt(c[0], 3)} ± {html.fmt(c[1], 2)}" if c else "–" for c in row]
        for feat, row in cells.items()
    ]
    parts.append(html.table(columns, rows))
    return html.section(title, *parts)


def _sci_section(f: RunFigures) -> str:
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


def _mitigation_section(f: RunFigures) -> list[str]:
    """The mitigation section, when the pipeline has a mitigation step."""
    if f.mitigation is None:
        return []
    step = next((s for s in f.steps if s.name == "mitigation"), None)
    kwh = step.energy.get("energy_kwh") if step is not None and step.ran else None
    return [render_section(f.mitigation, kwh)]


def render_sustainability_report(
    outcome: RunFigures, energy: Optional[Mapping[str, Any]] = None
) -> str:
    """Renders the report as one self-contained HTML page (inline CSS and SVG).

    Args:
        outcome: What :func:`~task.run_sustainability_report` returned.
        energy: This step's own energy reading (``EnergyReading.to_dict()``), optional.

    Returns:
        The HTML document.
    """
    reported = sum(s.ran for s in outcome.steps)
    return html.page(
        "Sustainability report",
        [
            *_energy_section(outcome, energy),
            _carbon_section(outcome, energy),
            _compression_section(outcome),
            _fairness_section(outcome),
            *_mitigation_section(outcome),
            _gate_section(outcome),
            _deployment_section(outcome),
            _attribution_section(outcome),
            _sci_section(outcome),
        ],
        subtitle=f"{reported} of {len(outcome.steps)} steps reported their figures",
    )
