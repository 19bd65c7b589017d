"""The sustainability report's short Markdown summary, which the KFP UI shows as is."""

from __future__ import annotations

from typing import Any

from greenkfp.components._shared import html
from greenkfp.components._shared.mitigation_record import gap_rows, quality_rows
from greenkfp.components._shared.step_keys import ENERGY_HIGH, ENERGY_LOW
from greenkfp.components.sustainability.report import NOT_RUN, bound_text, kepler_text
from greenkfp.components.sustainability.task import RunFigures


def _md(value: Any) -> str:
    return "–" if value is None else html.fmt(value)


def _carbon_lines(f: RunFigures) -> list[str]:
    c = f.carbon
    if not c or not c["steps_metered"]:
        return []
    return [
        f"- Emissions as run: {_md(c['emissions_kg_as_run'])}, at the annual average: "
        f"{_md(c['emissions_kg_annual_average'])}, at the best window: "
        f"{_md(c['emissions_kg_best_window'])} kg CO2eq ({c['steps_priced']} of "
        f"{c['steps_metered']} steps priced by a provider)",
        "",
    ]


def render_sustainability_summary(outcome: RunFigures) -> str:
    """Renders a short Markdown summary (the KFP UI shows it as is).

    Args:
        outcome: What :func:`~task.run_sustainability_report` returned.

    Returns:
        The Markdown text.
    """
    f = outcome
    lines = [
        "# Sustainability summary",
        "",
        f"- Energy, total: **{_md(f.energy_kwh_total)} kWh** "
        f"({_md(f.energy_kwh_total_low)} to {_md(f.energy_kwh_total_high)} kWh); "
        f"Kepler cross-check: {kepler_text(f)}; emissions, total: "
        f"**{_md(f.emissions_kg_co2eq_total)} kg CO2eq** over "
        f"{sum(s.ran for s in f.steps)} of {len(f.steps)} steps",
        f"- Carbon intensity (run average): {_md(f.carbon_intensity_g_per_kwh)} g CO2eq/kWh; "
        f"method: {f.energy_method}",
        "",
        *_carbon_lines(f),
        "| step | energy (kWh) | bound (kWh) | emissions (kg CO2eq) | duration (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in f.steps:
        if s.ran:
            e = s.energy
            lines.append(
                f"| {s.label} | {_md(e.get('energy_kwh'))} | "
                f"{bound_text(e.get(ENERGY_LOW), e.get(ENERGY_HIGH))} | "
                f"{_md(e.get('emissions_kg_co2eq'))} | {_md(e.get('duration_s'))} |"
            )
        else:
            lines.append(f"| {s.label} | {NOT_RUN} | | | |")
    lines.append("")
    if f.compression is None:
        lines.append(f"- Compression: {NOT_RUN}")
    else:
        c = f.compression
        lines.append(
            f"- Compression: size ratio {_md(f.outcome.size_ratio)}, p50 latency speed-up "
            f"{_md(f.outcome.latency_speedup)}, accuracy {_md(c.get('base_accuracy'))} → "
            f"{_md(c.get('compressed_accuracy'))}, inference energy per 1k "
            f"{_md(c.get('base_inference_energy_kwh_per_1k'))} → "
            f"{_md(c.get('compressed_inference_energy_kwh_per_1k'))} kWh"
        )
    if f.fairness_gaps is None:
        lines.append(f"- Fairness: {NOT_RUN}")
    else:
        lines.append(f"- Fairness: worst gap {_md(f.worst_fairness_gap)}")
    if f.mitigation is not None:
        m = f.mitigation
        lines.append(
            f"- Fairness mitigation: **{m.get('mitigation')}**: {m.get('mitigation_reason')}"
        )
        for row in gap_rows(m):
            lines.append(f"  - {row[0]} gap by {row[1]} (bound {row[2]}): {row[3]} → {row[4]}")
        for name, before, after, cost in quality_rows(m):
            lines.append(f"  - {name}: {_md(before)} → {_md(after)} (cost {_md(cost)})")
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
    if f.attributions:
        top = f.attributions.get("global", [])[:5]
        lines.append(
            "- Top features (ROC AUC drop when shuffled): "
            + ", ".join(f"{i['feature']} {_md(i['auc_drop'])}" for i in top)
        )
    sci = f.sci
    if sci["sci_g_co2eq_per_1k_predictions"] is None:
        lines.append(f"- SCI per 1,000 predictions: {sci['note']}")
    else:
        lines.append(
            f"- SCI per 1,000 predictions: **{_md(sci['sci_g_co2eq_per_1k_predictions'])} "
            f"g CO2eq** ({sci['note']})"
        )
    return "\n".join(lines) + "\n"
