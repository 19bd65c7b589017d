"""Self-contained HTML fairness report: gaps, per-slice charts with intervals, baseline.

Built from the primitives of ``_shared.html`` plus one chart of its own (bars with
interval whiskers); inline CSS and SVG only, nothing loaded from the network.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional, Sequence

from greenkfp.components._shared import html
from greenkfp.components._shared.step_keys import (
    BASELINE,
    DELTA,
    GAP_METRICS,
    MAX_FAIRNESS_GAP,
    QUALITY_KEYS,
    split_role,
    with_role,
)
from greenkfp.components.fairness.gaps import (
    METRIC_ABBREVIATIONS,
    METRIC_TITLES,
    OVERALL,
    Gap,
    SliceResult,
)
from greenkfp.components.fairness.slicing import threshold_label

if TYPE_CHECKING:  # pragma: no cover
    from greenkfp.components.fairness.task import FairnessOutcome, ModelEvaluation

EXCLUDED_COLOR = "#cbd2d9"
BASELINE_COLOR = "#1f2933"
_MISSING = "–"


def _num(value: Any) -> Any:
    """A finite number as is; None, NaN and text as a dash."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _MISSING
    return value if math.isfinite(value) else _MISSING


def interval_chart(
    labels: Sequence[str],
    values: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    title: str,
    excluded: Sequence[bool] = (),
    baseline: Sequence[Optional[float]] = (),
    width: int = 340,
) -> str:
    """Returns an inline SVG of horizontal bars with interval whiskers.

    The axis runs from 0 to the smallest of 0.05, 0.1, 0.2, 0.25, 0.5 and 1 that holds
    every whisker and baseline tick, the same for all bars of the chart.

    Args:
        labels: One label per bar.
        values: Rates, in [0, 1]; NaN draws no bar.
        lows: Lower ends of the intervals.
        highs: Upper ends of the intervals.
        title: Caption above the chart, also its accessible name.
        excluded: Per bar, whether it is left out of the gap (drawn grey).
        baseline: Per bar, the baseline's value (a dark tick) or None.
        width: Width of the SVG, in pixels.
    """
    if not values:
        return '<div class="kv">no slices</div>'
    label_w, value_w, bar_h, gap, top = 118, 44, 14, 6, 20
    plot_w = max(width - label_w - value_w, 60)
    rows = [f'<text x="0" y="12" font-weight="600">{html.esc(title)}</text>']

    # Scale to a round top just above the largest whisker, so small rates stay readable.
    finite = [float(v) for v in [*highs, *(b for b in baseline if b is not None)]]
    largest = max((v for v in finite if math.isfinite(v)), default=1.0)
    scale = next((t for t in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0) if largest <= t), 1.0)

    def x_at(v: float) -> float:
        return label_w + plot_w * min(max(v, 0.0), scale) / scale

    for i, label in enumerate(labels):
        y = top + i * (bar_h + gap)
        value, low, high = float(values[i]), float(lows[i]), float(highs[i])
        is_excluded = bool(excluded[i]) if i < len(excluded) else False
        color = EXCLUDED_COLOR if is_excluded else html.BAR_COLOR
        short = label if len(label) <= 19 else label[:18] + "…"
        tip = f"{label}: {html.fmt(value, 3)} (95% CI {html.fmt(low, 3)}–{html.fmt(high, 3)})"
        if is_excluded:
            tip += ", excluded from the gap"
        rows.append(
            f'<text x="{label_w - 4}" y="{y + bar_h - 3}" text-anchor="end">{html.esc(short)}'
            f"<title>{html.esc(label)}</title></text>"
        )
        if math.isfinite(value):
            rows.append(
                f'<rect x="{label_w}" y="{y}" width="{x_at(value) - label_w:.1f}" '
                f'height="{bar_h}" fill="{color}" fill-opacity="0.75"><title>{html.esc(tip)}'
                f"</title></rect>"
            )
            mid = y + bar_h / 2
            rows.append(
                f'<path d="M{x_at(low):.1f},{mid} H{x_at(high):.1f} M{x_at(low):.1f},{y + 2} '
                f'V{y + bar_h - 2} M{x_at(high):.1f},{y + 2} V{y + bar_h - 2}" '
                f'stroke="{BASELINE_COLOR}" stroke-width="1.2" fill="none">'
                f"<title>{html.esc(tip)}</title></path>"
            )
        text = html.fmt(value, 3) if math.isfinite(value) else "n/a"
        rows.append(f'<text x="{label_w + plot_w + 4}" y="{y + bar_h - 3}">{html.esc(text)}</text>')
        base = baseline[i] if i < len(baseline) else None
        if base is not None and math.isfinite(base):
            rows.append(
                f'<path d="M{x_at(base):.1f},{y - 2} V{y + bar_h + 2}" stroke="#f97316" '
                f'stroke-width="3"><title>baseline {html.esc(html.fmt(base, 3))}</title></path>'
            )
    height = top + len(labels) * (bar_h + gap) + 14
    axis_y = height - 4
    for t in (0.0, scale / 2, scale):
        rows.append(
            f'<text x="{x_at(t):.1f}" y="{axis_y}" text-anchor="middle" fill="#616e7c">{t:g}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-size="11" role="img" aria-label="{html.esc(title)}">{"".join(rows)}</svg>'
    )


def _group_charts(
    group: str,
    slices: Sequence[SliceResult],
    gaps: Sequence[Gap],
    baseline: Optional[Sequence[SliceResult]],
    thresholds: Sequence[float],
    min_slice_size: int,
) -> str:
    members = [s for s in slices if s.group == group]
    base_by_name = {s.name: s for s in baseline or [] if s.group == group}
    parts = []
    for t in thresholds:
        label = threshold_label(t)
        charts = []
        for metric in GAP_METRICS:
            gap = next((g for g in gaps if g.metric == metric and g.threshold == t), None)
            excluded = gap.excluded if gap else {s.name: "fewer than 2 eligible" for s in members}
            rates = [s.rates[label][metric] for s in members]
            base = [
                base_by_name[s.name].rates[label][metric].value if s.name in base_by_name else None
                for s in members
            ]
            title = f"{METRIC_ABBREVIATIONS[metric]} @{label}"
            if gap:
                title += f": gap {html.fmt(gap.gap, 3)}" + (" *" if gap.significant else "")
            charts.append(
                interval_chart(
                    [f"{', '.join(s.values.values())} (n={s.example_count})" for s in members],
                    [r.value for r in rates],
                    [r.low for r in rates],
                    [r.high for r in rates],
                    title,
                    excluded=[s.name in excluded for s in members],
                    baseline=base if baseline else (),
                )
            )
        parts.append(f'<div class="grid">{"".join(charts)}</div>')
    note = (
        f'<p class="kv">Bars: the rate per slice; whiskers: its 95% Wilson interval; grey: '
        f"left out of the gap (fewer than {min_slice_size} examples, or the rate is "
        f"undefined); * a significant gap (its 95% interval excludes 0)"
        + ("; orange tick: the baseline's rate" if baseline else "")
        + ".</p>"
    )
    return "".join(parts) + note


def _gap_rows(
    gaps: Sequence[Gap], baseline: Optional[Sequence[Gap]]
) -> tuple[list[str], list[list[Any]]]:
    base = {g.gap_key: g for g in baseline or []}
    headers = [
        "feature",
        "metric",
        "threshold",
        "gap",
        "gap 95% CI",
        "ratio",
        "highest slice",
        "lowest slice",
        "worst slice",
        "verdict",
    ]
    if baseline is not None:
        headers += ["baseline gap", "change"]
    rows = []
    for g in gaps:
        row = [
            g.group,
            METRIC_ABBREVIATIONS[g.metric],
            threshold_label(g.threshold),
            g.gap,
            f"[{html.fmt(g.ci_low, 3)}, {html.fmt(g.ci_high, 3)}]",
            g.ratio,
            f"{g.max_slice} ({html.fmt(g.max_value, 3)})",
            f"{g.min_slice} ({html.fmt(g.min_value, 3)})",
            g.worst_slice,
            "significant" if g.significant else "within noise",
        ]
        if baseline is not None:
            b = base.get(g.gap_key)
            row += [b.gap if b else _MISSING, g.gap - b.gap if b else _MISSING]
        rows.append(row)
    return headers, rows


def _slice_table(evaluation: ModelEvaluation, thresholds: Sequence[float]) -> str:
    headers = ["slice", "examples", "AUC", "accuracy"]
    for t in thresholds:
        headers += [f"{METRIC_ABBREVIATIONS[m]} @{threshold_label(t)}" for m in GAP_METRICS]
    rows = []
    for s in evaluation.slices:
        row: list[Any] = [s.name, s.example_count]
        row += [_num(s.quality.get("auc")), _num(s.quality.get("accuracy"))]
        for t in thresholds:
            for m in GAP_METRICS:
                r = s.rates[threshold_label(t)][m]
                row.append(
                    f"{html.fmt(r.value, 3)} [{html.fmt(r.low, 2)}, {html.fmt(r.high, 2)}]"
                    if math.isfinite(r.value)
                    else "n/a"
                )
        rows.append(row)
    return html.table(headers, rows)


def _baseline_table(metrics: dict[str, float]) -> str:
    keys = [figure for role, figure in map(split_role, metrics) if role == DELTA]
    order = [k for k in QUALITY_KEYS if k in keys] + [k for k in keys if k not in QUALITY_KEYS]
    rows = [
        [
            k,
            metrics[with_role(BASELINE, k)],
            metrics.get(k, _MISSING),
            metrics[with_role(DELTA, k)],
        ]
        for k in order
    ]
    return html.table(["metric", "baseline", "candidate", "delta (candidate - baseline)"], rows)


def render_evaluate_fairness(outcome: FairnessOutcome, energy: dict[str, Any]) -> str:
    """Renders a fairness evaluation as a self-contained HTML page.

    Args:
        outcome: From :func:`greenkfp.components.fairness.task.run_evaluate_fairness`.
        energy: An energy reading as a dict (``EnergyReading.to_dict()``), or ``{}``.

    Returns:
        The HTML document.
    """
    settings = outcome.settings
    cand, base = outcome.candidate, outcome.baseline
    m = outcome.figures
    significant = [g for g in cand.gaps if g.significant]
    tiles = [
        ("AUC", _num(m.get("auc"))),
        ("accuracy", _num(m.get("accuracy"))),
        ("examples", int(m.get("example_count", 0))),
        ("max fairness gap", _num(m.get(MAX_FAIRNESS_GAP))),
        ("significant gaps", len(significant)),
        ("slices left out", len(outcome.excluded)),
    ]
    if base is not None:
        tiles.append(
            ("max gap change vs baseline", _num(m.get(with_role(DELTA, MAX_FAIRNESS_GAP))))
        )
    tiles.append(("energy kWh", _num(energy.get("energy_kwh"))))

    if significant:
        items = "".join(
            f'<li class="bad">{html.esc(METRIC_TITLES[g.metric])} differs by '
            f"{html.esc(html.fmt(g.gap, 3))} across {html.esc(g.group)} at threshold "
            f"{html.esc(threshold_label(g.threshold))}: {html.esc(g.max_slice)} "
            f"{html.esc(html.fmt(g.max_value, 3))} vs {html.esc(g.min_slice)} "
            f"{html.esc(html.fmt(g.min_value, 3))} (95% CI of the gap "
            f"{html.esc(html.fmt(g.ci_low, 3))} to {html.esc(html.fmt(g.ci_high, 3))})</li>"
            for g in significant
        )
        verdict = f"<ul>{items}</ul>"
    else:
        verdict = (
            '<p class="ok">No significant gap: every difference between eligible slices is '
            "within the noise of its 95% interval.</p>"
        )
    if base is not None:
        changes = "".join(f"<li>{html.esc(c)}</li>" for c in outcome.changes)
        verdict += (
            f"<h3>Against the baseline</h3><ul>{changes}</ul>"
            if changes
            else '<p class="kv">No gap moved by 0.005 or more against the baseline.</p>'
        )

    headers, rows = _gap_rows(cand.gaps, base.gaps if base else None)
    body = [
        html.tiles(tiles),
        html.section("Verdict", verdict),
        html.section(
            "Fairness gaps",
            html.table(headers, rows) if rows else '<div class="kv">no gap computed</div>',
            '<p class="kv">gap = highest minus lowest rate across the eligible slices; ratio = '
            "lowest over highest; worst slice: highest FPR or FNR, lowest TPR, positive rate "
            "furthest from overall. A gap is significant when its 95% interval (Newcombe, "
            "from the two slices' Wilson intervals) excludes 0.</p>",
        ),
    ]
    for group, _ in settings.groups():
        group_gaps = [g for g in cand.gaps if g.group == group]
        body.append(
            html.section(
                f"Slices of {group}",
                _group_charts(
                    group,
                    cand.slices,
                    group_gaps,
                    base.slices if base else None,
                    settings.thresholds,
                    settings.min_slice_size,
                ),
            )
        )
    if outcome.excluded:
        body.append(
            html.section(
                "Slices left out of gaps",
                html.table(["slice", "reason"], [[k, v] for k, v in outcome.excluded.items()]),
            )
        )
    body.append(
        html.section(
            "All slices (candidate)",
            _slice_table(cand, settings.thresholds),
            '<p class="kv">Rates with their 95% Wilson interval; a row is predicted positive '
            "when its score is greater than the threshold.</p>",
        )
    )
    if base is not None:
        body.append(html.section("Baseline comparison", _baseline_table(m)))
        body.append(html.section("All slices (baseline)", _slice_table(base, settings.thresholds)))
    body.append(html.section("Energy and carbon of this step", html.energy_section(energy)))
    facts = [
        ["label column", outcome.label_column],
        ["positive label", outcome.positive_label],
        ["sensitive features", ", ".join(settings.sensitive_features)],
        [
            "buckets",
            "; ".join(
                f"{k}: {', '.join(html.fmt(v) for v in b)}"
                for k, b in settings.feature_buckets.items()
            )
            or "none",
        ],
        ["crosses", ", ".join(g for g, f in settings.groups() if len(f) > 1) or "none"],
        ["thresholds", ", ".join(threshold_label(t) for t in settings.thresholds)],
        ["min slice size", settings.min_slice_size],
        ["TFMA output", "candidate/" + (" and baseline/" if base else "") + " in the artifact"],
    ]
    body.append(html.section("Settings", html.table(["setting", "value"], facts)))
    overall = next(s for s in cand.slices if s.group == OVERALL)
    subtitle = f"{overall.example_count} examples, " + (
        "candidate vs baseline" if base else "candidate model"
    )
    return html.page("Fairness report", body, subtitle=subtitle)
