"""The fairness mitigation step's record, as the runner and the reports read it.

``mitigate_fairness`` writes it (``mitigation.json``, and the same mapping in its record
artifact's metadata); ``greenkfp run`` copies its headline keys into
``run_summary.json`` and the sustainability report shows it as a section, so both read
it here rather than from the mitigation family.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from greenkfp.components._shared import html

#: Keys every record holds; a mapping with all of them is a mitigation record.
RECORD_KEYS = ("mitigation", "mitigation_gaps", "mitigation_reason")

#: Keys ``run_summary.json`` takes from the record.
SUMMARY_KEYS = RECORD_KEYS


def is_record(data: Any) -> bool:
    """Tells a mitigation record by its shape."""
    return isinstance(data, Mapping) and all(k in data for k in RECORD_KEYS)


def summary_fields(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``run_summary.json`` fields of the first mitigation record among ``records``."""
    for record in records:
        if is_record(record):
            return {k: record[k] for k in SUMMARY_KEYS}
    return {}


def _interval(figures: Optional[Mapping[str, Any]]) -> str:
    if not figures or figures.get("gap") is None:
        return "not measurable"
    return (
        f"{figures['gap']:.3f} [{figures.get('low', float('nan')):.3f}, "
        f"{figures.get('high', float('nan')):.3f}]"
    )


def gap_rows(record: Mapping[str, Any]) -> list[list[Any]]:
    """One row per gated gap: metric, feature, bound, before and after with 95% intervals."""
    return [
        [
            g.get("metric", ""),
            g.get("feature", ""),
            g.get("bound"),
            _interval(g.get("before")),
            _interval(g.get("after")),
        ]
        for g in record.get("mitigation_gaps") or []
    ]


def quality_rows(record: Mapping[str, Any]) -> list[list[Any]]:
    """Accuracy and AUC before and after, and the cost (before minus after)."""
    quality = record.get("mitigation_quality") or {}
    before, after = quality.get("before") or {}, quality.get("after") or {}
    rows = []
    for name in ("accuracy", "auc"):
        if before.get(name) is None or after.get(name) is None:
            continue
        rows.append([name, before[name], after[name], before[name] - after[name]])
    return rows


def render_section(record: Optional[Mapping[str, Any]], energy_kwh: Optional[float]) -> str:
    """The report section: each gated gap before and after, the cost, the energy spent."""
    title = "Fairness mitigation"
    if not record:
        return html.section(title, '<p class="kv">not run: no mitigation record was given</p>')
    parts = [
        html.tiles(
            [
                ("method kept", record.get("mitigation", "none")),
                ("policy asked", record.get("mitigation_requested", "")),
                ("energy spent (kWh)", energy_kwh if energy_kwh is not None else "–"),
            ]
        ),
        f'<p class="kv">{html.esc(record.get("mitigation_reason", ""))}</p>',
    ]
    spent = (record.get("mitigation_energy") or {}).get("energy_kwh")
    if isinstance(spent, (int, float)):
        parts.append(
            f'<p class="kv">Energy of the mitigation: training the unweighted reference '
            f"the reweighed model is judged against, {spent:.3g} kWh (train_model's step "
            "energy includes it).</p>"
        )
    rows = gap_rows(record)
    if rows:
        parts.append("<h3>Gated gaps, before → after (95% interval)</h3>")
        parts.append(html.table(["metric", "feature", "bound", "before", "after"], rows))
    quality = quality_rows(record)
    if quality:
        parts.append("<h3>Quality cost on the evaluation rows</h3>")
        parts.append(html.table(["", "before", "after", "cost"], quality))
    attempts = record.get("mitigation_attempts") or []
    if attempts:
        parts.append("<h3>Remedies tried</h3>")
        parts.append(
            html.table(
                ["method", "outcome", "reason"],
                [[a.get("method"), a.get("outcome"), a.get("reason")] for a in attempts],
            )
        )
    feature = record.get("sensitive_feature_at_prediction")
    if feature:
        parts.append(
            f'<p class="kv">The deployed model applies per-group decision thresholds: the '
            f"sensitive feature <b>{html.esc(feature)}</b> is needed at prediction time.</p>"
        )
    return html.section(title, *parts)
