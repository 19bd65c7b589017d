"""The reviewer's Markdown of the gate and of the deploy, and the deploy's manifest text.

``evaluate_gate`` writes :func:`render_evaluate_gate` to its ``summary``; ``deploy_model``
writes :func:`render_deploy_model` to its ``summary`` and :func:`render_inference_service`
to its ``inference_service``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from greenkfp.components._shared.step_records import FAIL, PASS, SKIPPED, DeploymentRecord
from greenkfp.components.deployment import kserve
from greenkfp.components.deployment.gate import SOURCES, GateResult


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.6g}"
    return str(value).replace("|", "\\|")


def _energy_line(energy: Mapping[str, Any]) -> list[str]:
    """One line on this step's own energy reading; nothing without a reading."""
    if "energy_kwh" not in energy:
        return []
    method = energy.get("energy_method") or "method not given"
    return [
        "",
        f"This step: {_cell(energy['energy_kwh'])} kWh, "
        f"{_cell(energy.get('emissions_kg_co2eq'))} kg CO2eq in "
        f"{_cell(energy.get('duration_s'))} s ({method}).",
    ]


def render_evaluate_gate(outcome: GateResult, energy: Mapping[str, Any]) -> str:
    """Returns the gate's summary: the decision, every check, and the inputs read.

    Args:
        outcome: What :func:`~gate_task.run_evaluate_gate` returned.
        energy: The step's energy reading (``EnergyReading.to_dict()``); may be empty.
    """
    verdict = "APPROVED" if outcome.approved else "REFUSED"
    name = outcome.model_name
    lines = [f"# Deployment gate: {verdict}" + (f" ({name})" if name else ""), ""]
    if outcome.reasons:
        lines += ["**Refused because:**", ""] + [f"- {r}" for r in outcome.reasons] + [""]
    lines += [
        "| check | metric read | value | threshold | verdict |",
        "|---|---|---:|---:|---|",
    ]
    for c in outcome.checks:
        mark = {PASS: "pass", FAIL: "**FAIL**", SKIPPED: "skipped"}[c.verdict]
        threshold = f"{c.comparison} {_cell(c.threshold)}"
        lines.append(
            f"| {_cell(c.name)} | {_cell(c.metric or c.detail)} | {_cell(c.value)} | "
            f"{threshold} | {mark} |"
        )
    lines.append("")
    if outcome.live:
        lines.append(f"Live model: version {outcome.live.version} at {outcome.live.uri}.")
    given = [s for s in SOURCES if outcome.inputs.get(s)]
    lines.append(f"Metrics read from: {', '.join(given) or 'none'}.")
    for metric, info in outcome.candidate_metrics.items():
        lines.append(f"Candidate {metric}: {_cell(info['value'])} ({info['source']}).")
    return "\n".join(lines + _energy_line(energy)) + "\n"


def render_deploy_model(outcome: DeploymentRecord, energy: Mapping[str, Any]) -> str:
    """Returns the deploy's summary: what was pushed and where, or why nothing was.

    Args:
        outcome: What :func:`~deploy_task.run_deploy_model` returned.
        energy: The step's energy reading (``EnergyReading.to_dict()``); may be empty.
    """
    if not outcome.deployed:
        lines = [f"# Deployment: not deployed ({outcome.model_name})", ""]
        lines += [f"- {r}" for r in outcome.reasons]
        lines += ["", f"Nothing was written to {outcome.registry_uri}."]
        return "\n".join(lines + _energy_line(energy)) + "\n"
    live = "and made it LIVE" if outcome.live else f"(LIVE stays at version {outcome.live_version})"
    previous = "none" if outcome.previous_live is None else outcome.previous_live
    lines = [
        f"# Deployment: version {outcome.version} of {outcome.model_name}",
        "",
        f"Pushed to `{outcome.pushed_uri}` {live}; previous LIVE: {previous}.",
    ]
    if outcome.canary:
        lines.append(
            f"Canary: {outcome.canary.get('rows')} rows, largest score difference "
            f"{outcome.canary.get('max_abs_diff', 0.0):.3g}."
        )
    lines += [f"- {r}" for r in outcome.reasons]
    if outcome.applied:
        lines.append(f"InferenceService {outcome.applied}.")
    if outcome.manifest:
        lines += ["", "```yaml", kserve.to_yaml(outcome.manifest).rstrip(), "```"]
    return "\n".join(lines + _energy_line(energy)) + "\n"


def render_inference_service(outcome: DeploymentRecord) -> str:
    """Returns the pushed version's InferenceService YAML, or a comment saying why none."""
    if outcome.manifest:
        return kserve.to_yaml(outcome.manifest)
    return "# Not deployed: " + "; ".join(outcome.reasons) + "\n"
