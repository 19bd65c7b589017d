"""Self-contained HTML report of the fairness mitigation step."""

from __future__ import annotations

from typing import Any, Mapping

from greenkfp.components._shared import html
from greenkfp.components._shared.mitigation_record import render_section
from greenkfp.components.mitigation.task import MitigationOutcome


def render_mitigate_fairness(outcome: MitigationOutcome, energy: Mapping[str, Any]) -> str:
    """The step's report: the mitigation section and the step's energy."""
    record = outcome.record()
    kwh = energy.get("energy_kwh")
    return html.page(
        "Fairness mitigation",
        [
            render_section(record, float(kwh) if isinstance(kwh, (int, float)) else None),
            html.section("Energy of this step", html.energy_section(energy)),
        ],
        subtitle=f"policy mitigation: {outcome.requested}; kept: {outcome.method}",
    )
