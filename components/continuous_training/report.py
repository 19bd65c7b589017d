"""The decision's report page: ``render_decide_retraining(outcome, energy)``."""

from __future__ import annotations

from typing import Any, Mapping

from greenkfp.components._shared.html import energy_section, esc, fmt, page, section, table, tiles
from greenkfp.components._shared.retrain_decision import energy_avoided_kwh
from greenkfp.components.continuous_training.task import DecisionOutcome


def render_decide_retraining(
    outcome: DecisionOutcome, energy: Mapping[str, Any], spent_before_kwh: float = 0.0
) -> str:
    """Renders the decision: verdict, every reason, drift per feature, quality, energy at stake.

    Args:
        outcome: What :func:`~task.run_decide_retraining` returned.
        energy: This step's energy reading (``EnergyReading.to_dict()``).
        spent_before_kwh: The energy the run's steps before this one spent.

    Returns:
        A self-contained HTML page.
    """
    record = outcome.record
    verdict = "RETRAIN" if record.retrain else "SKIP RETRAINING"
    live = "none" if record.live_version is None else f"version {record.live_version}"
    at_stake = record.live_pipeline_energy_kwh
    spent = spent_before_kwh + float(energy.get("energy_kwh", 0.0))
    avoided = energy_avoided_kwh(record.retrain, at_stake, spent)
    if avoided is None:
        saving = (
            "<p>The live version recorded no pipeline energy: the energy avoided is unknown.</p>"
        )
    else:
        saving = (
            f"<p>Energy avoided: <b>{esc(fmt(avoided))} kWh</b> (0 when retraining; else the "
            f"live version's recorded pipeline energy less the {esc(fmt(spent))} kWh this run "
            "spent up to and including this decision; the skipped steps add a few nWh, which "
            "<code>run_summary.json</code>'s <code>energy_avoided_kwh</code> counts).</p>"
        )
    body = [
        tiles(
            [
                ("decision", verdict),
                ("policy", record.policy),
                ("live version", live),
                ("live version's pipeline energy (kWh)", "–" if at_stake is None else at_stake),
            ]
        ),
        section(
            "Why",
            "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in record.reasons) + "</ul>",
            "<p>When the run skips retraining, every later step finishes at once with a "
            "<code>skipped</code> status.</p>",
            saving,
        ),
    ]
    if record.drift:
        rows = [
            [
                d["feature"],
                d["test"].replace("_", "-"),
                d["value"],
                d["threshold"],
                "–" if d.get("p_value") is None else d["p_value"],
                "DRIFT" if d["drifted"] else "ok",
            ]
            for d in sorted(record.drift, key=lambda d: (not d["drifted"], d["feature"]))
        ]
        body.append(
            section(
                "Drift of the new data against the live version's training data",
                table(["feature", "test", "value", "threshold", "p-value", "verdict"], rows),
                "<p>PSI and KS compare the numeric features with the training sample the "
                "version keeps; Jensen-Shannon (numeric) and L-infinity (categorical) compare "
                "TFDV statistics.</p>",
            )
        )
    if record.quality:
        q = record.quality
        rows = [
            ["recorded at deployment", q["recorded"]],
            [f"on the new data ({q['rows']} rows)", q["on_new_data"]],
            ["drop", q["drop"]],
            ["largest drop allowed", q["threshold"]],
        ]
        body.append(section(f"The live model's {q['metric']}", table(["", ""], rows)))
    if record.quality.get("fairness"):
        rows = [
            [f["feature"], f["metric"], f["on_new_data"], f["recorded"], f["slices"]]
            for f in record.quality["fairness"]
        ]
        headers = ["feature", "metric", "on the new data", "recorded", "slices compared"]
        body.append(
            section(
                "Fairness of the live model on the new data (reported, not a retrain criterion)",
                table(headers, rows),
            )
        )
    if outcome.energy_by_step:
        rows = [[step, kwh] for step, kwh in sorted(outcome.energy_by_step.items())]
        body.append(
            section(
                "Energy the live version's pipeline spent, per step (kWh)",
                table(["step", "energy (kWh)"], rows),
            )
        )
    body.append(section("Thresholds", table(["", ""], sorted(outcome.thresholds.items()))))
    body.append(section("Energy and carbon of this step", energy_section(energy)))
    subtitle = f"{outcome.model_name} in {outcome.registry_uri or '(no registry)'}"
    return page(f"Retraining decision: {verdict}", body, subtitle)
