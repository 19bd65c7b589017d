"""The data validation reports: statistics as HTML, validation as Markdown.

``render_generate_statistics`` draws TFDV statistics as a self-contained page (TFDV's own
view needs a CDN); ``render_validate_data`` lists every anomaly and the drift per feature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from greenkfp.components._shared import html
from greenkfp.components.data_validation.statistics import (
    feature_common_stats,
    feature_name,
)

if TYPE_CHECKING:
    from greenkfp.components.data_validation.task import StatisticsOutcome
    from greenkfp.components.data_validation.validation import ValidationResult

TOP_VALUES_SHOWN = 10


def _card(name: str, kind: str, content: str) -> str:
    heading = f'<h3>{html.esc(name)} <span class="kv">{kind}</span></h3>'
    return f'<div class="card">{heading}{content}</div>'


def _numeric_card(name: str, num: Any, rows: int) -> str:
    common = num.common_stats
    histogram = next((h for h in num.histograms if h.type == 0), None)  # STANDARD
    chart = ""
    if histogram is not None and histogram.buckets:
        counts = [b.sample_count for b in histogram.buckets]
        chart = html.column_chart(
            counts,
            html.fmt(histogram.buckets[0].low_value, 4),
            html.fmt(histogram.buckets[-1].high_value, 4),
        )
    missing = f"{100.0 * common.num_missing / rows:.1f}%" if rows else "–"
    figures = html.table(
        ["missing", "mean", "std", "zeros"], [[missing, num.mean, num.std_dev, int(num.num_zeros)]]
    ) + html.table(["min", "median", "max"], [[num.min, num.median, num.max]])
    return _card(name, "numeric", chart + figures)


def _categorical_card(name: str, strings: Any, rows: int) -> str:
    common = strings.common_stats
    top = list(strings.top_values)[:TOP_VALUES_SHOWN]
    chart = html.bar_chart([t.value for t in top], [t.frequency for t in top])
    figures = html.table(
        ["missing", "unique", "avg length"],
        [
            [
                f"{100.0 * common.num_missing / rows:.1f}%" if rows else "–",
                int(strings.unique),
                strings.avg_length,
            ]
        ],
    )
    return _card(name, "categorical", chart + figures)


def render_generate_statistics(outcome: StatisticsOutcome, energy: Mapping[str, Any]) -> str:
    """Renders statistics as one HTML page: headline figures and a card per feature.

    Args:
        outcome: What ``task.run_generate_statistics`` returned.
        energy: The step's energy reading (``EnergyReading.to_dict()``).

    Returns:
        The HTML document.
    """
    summary = outcome.summary
    dataset = outcome.statistics.datasets[0]
    cards = []
    overview = []
    for feature in dataset.features:
        name = feature_name(feature)
        kind = feature.WhichOneof("stats")
        common = feature_common_stats(feature)
        missing = int(common.num_missing) if common is not None else 0
        if kind == "num_stats":
            cards.append(_numeric_card(name, feature.num_stats, summary.rows))
        elif kind == "string_stats":
            cards.append(_categorical_card(name, feature.string_stats, summary.rows))
        kinds = {"num_stats": "numeric", "string_stats": "categorical"}
        overview.append([name, kinds.get(kind, kind or "?"), missing])
    body = [
        html.tiles(
            [
                ("rows", summary.rows),
                ("columns", summary.columns),
                ("missing cells", summary.missing_cells),
            ]
        ),
        html.section("Features", html.table(["feature", "kind", "missing"], overview)),
        html.section("Distributions", f'<div class="grid">{"".join(cards)}</div>'),
        html.section("Energy and carbon of this step", html.energy_section(energy)),
    ]
    return html.page("Dataset statistics", body, subtitle=outcome.source)


def render_validate_data(result: ValidationResult, energy: Mapping[str, Any]) -> str:
    """Renders the validation as Markdown: every anomaly, the drift and skew per feature.

    Args:
        result: What ``task.run_validate_data`` returned.
        energy: The step's energy reading (``EnergyReading.to_dict()``).

    Returns:
        The Markdown document.
    """
    lines = ["# Data validation", ""]
    if result.anomalies:
        lines += [
            f"**{len(result.anomalies)} anomalies found.**",
            "",
            "| feature | kind | value | threshold | description |",
            "|---|---|---|---|---|",
        ]
        for a in result.anomalies:
            value = "" if a.value is None else f"{a.value:.4g}"
            threshold = "" if a.threshold is None else f"{a.threshold:.4g}"
            description = a.description.replace("|", "\\|")
            lines.append(f"| {a.feature} | {a.kind} | {value} | {threshold} | {description} |")
    else:
        lines.append("No anomalies found.")
    for heading, values, thresholds, flagged in [
        (
            "Drift against the baseline",
            result.drift,
            result.drift_thresholds,
            result.drifted_features,
        ),
        (
            "Drift against the reference statistics",
            result.reference_drift,
            result.reference_drift_thresholds,
            result.reference_drifted_features,
        ),
        ("Train/serving skew", result.skew, result.skew_thresholds, result.skewed_features),
    ]:
        if not values:
            continue
        lines += [
            "",
            f"## {heading}",
            "",
            "| feature | distance | threshold | verdict |",
            "|---|---|---|---|",
        ]
        for name in sorted(values, key=values.get, reverse=True):
            verdict = "**above threshold**" if name in flagged else "ok"
            lines.append(f"| {name} | {values[name]:.4f} | {thresholds[name]:.4g} | {verdict} |")
    lines += ["", "## Energy and carbon of this step", "", "| | |", "|---|---|"]
    lines += [f"| {label} | {html.fmt(value)} |" for label, value in html.energy_rows(energy)]
    return "\n".join(lines) + "\n"
