"""Self-contained HTML reports: inline CSS and SVG, nothing loaded from the network.

Reports render in the KFP UI's sandboxed viewer and in air-gapped clusters.
"""

from __future__ import annotations

import html
from typing import Sequence

_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:24px;
color:#1f2933;background:#fff;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
#e4e7eb;padding-bottom:4px}h3{font-size:14px;margin:0 0 6px}
.sub{color:#616e7c;font-size:13px;margin-bottom:16px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #e4e7eb;padding:4px 8px;text-align:left}th{background:#f5f7fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #e4e7eb;border-radius:6px;padding:10px 12px;width:320px}
.kv{font-size:12px;color:#3e4c59}.bad{color:#b42318;font-weight:600}.ok{color:#027a48}
.tiles{display:flex;gap:12px;flex-wrap:wrap}.tile{background:#f5f7fa;border-radius:6px;
padding:8px 14px}.tile b{display:block;font-size:20px}.tile span{font-size:12px;color:#616e7c}
"""

BAR_COLOR = "#3b82f6"
ALERT_COLOR = "#dc2626"


def esc(value: object) -> str:
    """Escapes any value for HTML text."""
    return html.escape(str(value))


def fmt(value: object, digits: int = 4) -> str:
    """Formats numbers compactly for people; other values as text."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        if abs(value) >= 10**digits:
            return f"{value:,.0f}"
        return f"{value:,.{digits}g}"
    return str(value)


def page(title: str, body: Sequence[str], subtitle: str = "") -> str:
    """Returns a whole HTML document with the given sections."""
    sub = f'<div class="sub">{esc(subtitle)}</div>' if subtitle else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1>{sub}{''.join(body)}</body></html>"
    )


def section(heading: str, *content: str) -> str:
    """Returns a titled section."""
    return f"<section><h2>{esc(heading)}</h2>{''.join(content)}</section>"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Returns an HTML table; numbers are right-aligned and formatted."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            numeric = isinstance(cell, (int, float)) and not isinstance(cell, bool)
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{esc(fmt(cell))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def tiles(items: Sequence[tuple[str, object]]) -> str:
    """Returns a row of headline figures (label, value)."""
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile"><b>{esc(fmt(v))}</b><span>{esc(k)}</span></div>' for k, v in items
        )
        + "</div>"
    )


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    width: int = 300,
    bar_height: int = 16,
    colors: Sequence[str] | None = None,
    title: str = "",
) -> str:
    """Returns an inline SVG horizontal bar chart, one bar per label."""
    if not values:
        return '<div class="kv">no values</div>'
    label_w, value_w = 110, 56
    plot_w = max(width - label_w - value_w, 40)
    top = max((v for v in values if v == v), default=0.0) or 1.0
    rows = []
    for i, (label, value) in enumerate(zip(labels, values)):
        y = i * (bar_height + 4)
        w = 0.0 if value != value else max(plot_w * value / top, 0.0)
        color = colors[i] if colors else BAR_COLOR
        short = label if len(label) <= 16 else label[:15] + "…"
        rows.append(
            f'<text x="{label_w - 4}" y="{y + bar_height - 4}" text-anchor="end">{esc(short)}'
            f"<title>{esc(label)}</title></text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_height}" fill="{color}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_height - 4}">{esc(fmt(value, 3))}</text>'
        )
    height = len(values) * (bar_height + 4)
    label = f' aria-label="{esc(title)}"' if title else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-size="11" role="img"{label}>{"".join(rows)}</svg>'
    )


def column_chart(
    values: Sequence[float], low_label: str, high_label: str, width: int = 300, height: int = 90
) -> str:
    """Returns an inline SVG column chart (a histogram) with its range under it."""
    if not values:
        return '<div class="kv">no values</div>'
    top = max(values) or 1.0
    plot_h = height - 16
    step = width / len(values)
    bars = "".join(
        f'<rect x="{i * step + 1:.1f}" y="{plot_h - plot_h * v / top:.1f}" '
        f'width="{max(step - 2, 1):.1f}" height="{plot_h * v / top:.1f}" fill="{BAR_COLOR}">'
        f"<title>{esc(fmt(v, 3))}</title></rect>"
        for i, v in enumerate(values)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-size="11" role="img">{bars}'
        f'<text x="0" y="{height - 2}">{esc(low_label)}</text>'
        f'<text x="{width}" y="{height - 2}" text-anchor="end">{esc(high_label)}</text></svg>'
    )
