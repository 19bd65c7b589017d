"""Self-contained HTML view of TFDV statistics (TFDV's own view needs a CDN)."""

from __future__ import annotations

from typing import Any

from greenkfp.components._shared import html
from greenkfp.components.data_validation.statistics import (
    feature_common_stats,
    feature_name,
    summarize,
)

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


def statistics_report(stats: Any, title: str = "Dataset statistics", source: str = "") -> str:
    """Renders statistics as one HTML page: headline figures and a card per feature.

    Args:
        stats: A ``DatasetFeatureStatisticsList``.
        title: Page title.
        source: Where the data came from, shown under the title.

    Returns:
        The HTML document.
    """
    summary = summarize(stats)
    dataset = stats.datasets[0]
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
    ]
    return html.page(title, body, subtitle=source)
