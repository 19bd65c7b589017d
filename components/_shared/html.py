"""Self-contained HTML reports: inline CSS and SVG, nothing loaded from the network.

Reports render in the KFP UI's sandboxed viewer and in air-gapped clusters.
"""

from __future__ import annotations

import html
import math
from typing import Mapping, Sequence

from greenkfp.components._shared.step_keys import (
    ALL_ENERGY_FIGURES,
    ENERGY_BOUND_KEYS,
    KEPLER_ENERGY,
    NODE_ENERGY,
)

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


def energy_rows(energy: Mapping[str, object]) -> list[tuple[str, object]]:
    """A step's ``EnergyReading.to_dict()`` as (label, value) rows: figures, bound, how, where."""
    rows = [(f.heading, energy[f.key]) for f in ALL_ENERGY_FIGURES if energy.get(f.key) is not None]
    rows.append(("method", energy.get("energy_method")))
    for key, label in (("cpu_tdp_source", "CPU TDP from"), ("kepler_status", "Kepler check")):
        if energy.get(key):
            rows.append((label, energy[key]))
    rows.append(
        ("country / region", f"{energy.get('country_iso_code')} {energy.get('region') or ''}")
    )
    return rows


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def _energy_sentence(energy: Mapping[str, object]) -> str:
    """Says how a step's energy was obtained, its bound, its share of the node, and Kepler's."""
    method = str(energy.get("energy_method") or "")
    parts = [p for p in method.split("+") if p]
    code = f"<code>{esc(method)}</code>" if method else "not given"
    if not parts or parts[0] in ("unavailable", "unknown"):
        text = f"Energy could not be measured (method {code}); the figures are not a measurement."
    elif parts[0].endswith("_estimate"):
        text = (
            f"Energy is <b>an estimate, not a measurement</b> (method {code}): no readable "
            "power counter was found, so CPU power is modelled from the CPU's TDP"
            + (" and load" if parts[0] == "cpu_load_estimate" else "")
            + "."
            + (f" GPU energy was measured ({esc('+'.join(parts[1:]))})." if parts[1:] else "")
        )
    else:
        text = f"Energy was measured with hardware power counters (method {code})."
    text += " RAM energy is always a model estimate."
    value, low, high = (_number(energy.get(k)) for k in ("energy_kwh", *ENERGY_BOUND_KEYS))
    if value is not None and low is not None and high is not None:
        text += f" {fmt(value)} kWh, between {fmt(low)} and {fmt(high)} kWh given the method."
    node, cpu, memory = (_number(energy.get(k)) for k in (NODE_ENERGY, "cpu_share", "memory_share"))
    if node is not None and cpu is not None and memory is not None:
        text += (
            f" It is the step's own share of the node ({cpu:.0%} of its busy CPU time, "
            f"{memory:.1%} of its memory); the whole node used {fmt(node)} kWh."
        )
    kepler_kwh = _number(energy.get(KEPLER_ENERGY))
    if kepler_kwh is not None:
        text += f" Kepler counted {fmt(kepler_kwh)} kWh of CPU energy for the step's pod."
    elif energy.get("kepler_status"):
        text += f" Kepler cross-check: {esc(energy['kepler_status'])}."
    if "emissions_kg_co2eq" in energy:
        place = esc(
            " / ".join(str(energy[k]) for k in ("country_iso_code", "region") if energy.get(k))
            or "the configured grid"
        )
        text += f" Emissions are energy times the carbon intensity of {place}."
    return f'<p class="kv">{text}</p>'


def energy_section(energy: Mapping[str, object]) -> str:
    """A step's energy in every report: what it rests on, its rows, and its parts as bars."""
    if not energy:
        return '<div class="kv">no energy reading</div>'
    split = [(k, _number(energy.get(f"{k}_energy_kwh"))) for k in ("cpu", "gpu", "ram")]
    split = [(k, v) for k, v in split if v is not None]
    chart = ""
    if split and sum(v for _, v in split) > 0:
        chart = "<h3>Energy by part (kWh)</h3>" + bar_chart(
            [k for k, _ in split], [v for _, v in split], width=360
        )
    rows = table(["", ""], energy_rows(energy))
    return (
        _energy_sentence(energy)
        + f'<div class="grid"><div>{rows}</div><div style="padding-top:6px">{chart}</div></div>'
    )


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    width: int = 300,
    bar_height: int = 16,
    colors: Sequence[str] | None = None,
    title: str = "",
    errors: Sequence[float] | None = None,
) -> str:
    """Returns an inline SVG horizontal bar chart, one bar per label.

    ``errors``, when given, draws a bar of ± that much around each value (e.g. one
    standard deviation), clipped to the plot.
    """
    if not values:
        return '<div class="kv">no values</div>'
    # Labels take the room they need (about 6.2 px a character at 11 px), up to 40% of
    # the width; longer ones are cut, with the full label on hover.
    longest = max((len(label) for label in labels), default=0)
    max_chars = min(longest, int((width * 0.4 - 12) / 6.2))
    label_w, value_w = max(110, int(max_chars * 6.2) + 12), 56
    plot_w = max(width - label_w - value_w, 40)
    spread = list(errors) if errors is not None else [0.0] * len(values)
    reach = [v + (e if e == e else 0.0) for v, e in zip(values, spread) if v == v]
    top = max(reach, default=0.0) or 1.0
    rows = []
    for i, (label, value) in enumerate(zip(labels, values)):
        y = i * (bar_height + 4)
        w = 0.0 if value != value else max(plot_w * value / top, 0.0)
        color = colors[i] if colors else BAR_COLOR
        short = label if len(label) <= max_chars else label[: max_chars - 1] + "…"
        rows.append(
            f'<text x="{label_w - 4}" y="{y + bar_height - 4}" text-anchor="end">{esc(short)}'
            f"<title>{esc(label)}</title></text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_height}" fill="{color}"/>'
        )
        err = spread[i] if i < len(spread) else 0.0
        text_x = label_w + w + 4
        if errors is not None and value == value and err == err and err > 0:
            lo = label_w + min(max(plot_w * (value - err) / top, 0.0), plot_w)
            hi = label_w + min(max(plot_w * (value + err) / top, 0.0), plot_w)
            mid = y + bar_height / 2
            rows.append(
                f'<path class="err" d="M{lo:.1f},{mid:.1f}H{hi:.1f}M{lo:.1f},{mid - 4:.1f}'
                f'V{mid + 4:.1f}M{hi:.1f},{mid - 4:.1f}V{mid + 4:.1f}" stroke="#1f2933" '
                f'fill="none"><title>± {esc(fmt(err, 3))}</title></path>'
            )
            text_x = max(text_x, hi + 4)
        rows.append(f'<text x="{text_x:.1f}" y="{y + bar_height - 4}">{esc(fmt(value, 3))}</text>')
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


def _axis(values: Sequence[float]) -> tuple[float, float, list[float]]:
    """Padded range of finite values and about four round tick values inside it."""
    lo, hi = min(values), max(values)
    span = hi - lo
    pad = span * 0.06 if span else (abs(lo) * 0.1 or 1.0)
    lo, hi = lo - pad, hi + pad
    raw_step = (hi - lo) / 4
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    ticks = []
    tick = math.ceil(lo / step) * step
    while tick <= hi + step * 1e-9:
        ticks.append(0.0 if abs(tick) < step * 1e-9 else tick)
        tick += step
    return lo, hi, ticks


def scatter_chart(
    points: Sequence[tuple[float, float, str, bool]],
    x_label: str,
    y_label: str,
    width: int = 460,
    height: int = 260,
    title: str = "",
) -> str:
    """Returns an inline SVG scatter plot; highlighted points are red and labelled.

    Args:
        points: ``(x, y, label, highlight)`` per point; the label shows on hover, and
            next to the point when highlighted.
        x_label: Caption of the x axis.
        y_label: Caption of the y axis.
        width: Width of the SVG, in pixels.
        height: Height of the SVG, in pixels.
        title: Caption above the plot, also the chart's accessible name.

    Returns:
        The SVG element, or a short note when no point is finite.
    """
    finite = [p for p in points if math.isfinite(p[0]) and math.isfinite(p[1])]
    if not finite:
        return '<div class="kv">no values</div>'
    x_lo, x_hi, x_ticks = _axis([p[0] for p in finite])
    y_lo, y_hi, y_ticks = _axis([p[1] for p in finite])
    top, left, right, bottom = (22 if title else 8), 56, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_at(v: float) -> float:
        return left + plot_w * (v - x_lo) / (x_hi - x_lo)

    def y_at(v: float) -> float:
        return top + plot_h * (y_hi - v) / (y_hi - y_lo)

    parts = [f'<text x="0" y="12" font-weight="600">{esc(title)}</text>'] if title else []
    for t in y_ticks:
        parts.append(
            f'<line x1="{left}" y1="{y_at(t):.1f}" x2="{left + plot_w}" y2="{y_at(t):.1f}" '
            f'stroke="#e4e7eb"/><text x="{left - 5}" y="{y_at(t) + 4:.1f}" text-anchor="end" '
            f'fill="#616e7c">{esc(fmt(t, 3))}</text>'
        )
    for t in x_ticks:
        parts.append(
            f'<text x="{x_at(t):.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
            f'fill="#616e7c">{esc(fmt(t, 3))}</text>'
        )
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="#cbd2d9"/><text x="{left + plot_w / 2:.1f}" y="{height - 4}" '
        f'text-anchor="middle" fill="#616e7c">{esc(x_label)}</text>'
        f'<text transform="translate(12,{top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" fill="#616e7c">{esc(y_label)}</text>'
    )
    for x, y, label, highlight in sorted(finite, key=lambda p: p[3]):
        color = ALERT_COLOR if highlight else BAR_COLOR
        parts.append(
            f'<circle cx="{x_at(x):.1f}" cy="{y_at(y):.1f}" r="{5 if highlight else 4}" '
            f'fill="{color}" fill-opacity="0.8"><title>{esc(label)}</title></circle>'
        )
        if highlight:
            parts.append(
                f'<text x="{x_at(x) + 7:.1f}" y="{y_at(y) - 6:.1f}" fill="{color}">'
                f"{esc(label)}</text>"
            )
    label_attr = f' aria-label="{esc(title)}"' if title else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-size="11" role="img"{label_attr}>{"".join(parts)}</svg>'
    )


def line_chart(
    series: dict[str, Sequence[float]],
    x_label: str = "epoch",
    width: int = 460,
    height: int = 220,
    title: str = "",
) -> str:
    """Returns an inline SVG chart with one line per series over a shared y axis.

    The x axis is the 1-based index of each value (e.g. the epoch); the y axis is scaled
    to the finite values of all series with a little padding. NaN and infinite values
    break a line rather than bend it, and a lone point is drawn as a dot.

    Args:
        series: Name of each line and its values, in x order; the legend keeps this order.
        x_label: Caption of the x axis.
        width: Width of the SVG, in pixels.
        height: Height of the SVG, in pixels.
        title: Caption shown above the plot, also the chart's accessible name.

    Returns:
        The SVG element, or a short note when there is nothing finite to draw.
    """
    palette = (BAR_COLOR, "#f97316", "#10b981", "#8b5cf6", ALERT_COLOR, "#6b7280")
    values = {name: [float(v) for v in vals] for name, vals in series.items()}
    finite = [v for vals in values.values() for v in vals if math.isfinite(v)]
    if not finite:
        return '<div class="kv">no values</div>'
    n = max(len(vals) for vals in values.values())

    # Legend rows (wrapping), then the optional caption, then the plot.
    legend_rows: list[list[tuple[float, str, str]]] = [[]]
    cursor = 0.0
    for i, name in enumerate(values):
        item_w = 26 + 6.5 * len(name) + 14
        if cursor and cursor + item_w > width:
            legend_rows.append([])
            cursor = 0.0
        legend_rows[-1].append((cursor, name, palette[i % len(palette)]))
        cursor += item_w
    caption_h = 16 if title else 0
    top = caption_h + 16 * len(legend_rows) + 8
    left, right, bottom = 48, 12, 34
    plot_w = max(width - left - right, 20)
    plot_h = max(height - top - bottom, 20)

    lo, hi, ticks = _axis(finite)

    def x_at(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return top + plot_h * (hi - v) / (hi - lo)

    parts = []
    if title:
        parts.append(f'<text x="0" y="12" font-weight="600">{esc(title)}</text>')
    for row_i, row in enumerate(legend_rows):
        y = caption_h + 16 * row_i + 10
        for x, name, color in row:
            parts.append(
                f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 20:.1f}" y2="{y - 4}" '
                f'stroke="{color}" stroke-width="2.5"/>'
                f'<text x="{x + 25:.1f}" y="{y}">{esc(name)}</text>'
            )
    for t in ticks:
        y = y_at(t)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e4e7eb"/>'
            f'<text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end" fill="#616e7c">'
            f"{esc(fmt(t, 3))}</text>"
        )
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="#cbd2d9"/>'
    )
    base = top + plot_h
    for i in sorted({0, n - 1}):
        parts.append(
            f'<line x1="{x_at(i):.1f}" y1="{base}" x2="{x_at(i):.1f}" y2="{base + 4}" '
            f'stroke="#9aa5b1"/><text x="{x_at(i):.1f}" y="{base + 15}" text-anchor="middle" '
            f'fill="#616e7c">{i + 1}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" '
        f'fill="#616e7c">{esc(x_label)}</text>'
    )
    markers, dots = n <= 40, []
    for s_i, (name, vals) in enumerate(values.items()):
        color = palette[s_i % len(palette)]
        path, run = [], 0
        for i, v in enumerate(vals):
            if not math.isfinite(v):
                run = 0
                continue
            path.append(f"{'L' if run else 'M'}{x_at(i):.1f},{y_at(v):.1f}")
            run += 1
            lonely = run == 1 and (i + 1 >= len(vals) or not math.isfinite(vals[i + 1]))
            if markers or lonely:
                dots.append(
                    f'<circle cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="{3 if lonely else 2.2}" '
                    f'fill="{color}"><title>{esc(name)} @ {esc(x_label)} {i + 1}: '
                    f"{esc(fmt(v, 4))}</title></circle>"
                )
        if path:
            parts.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{color}" stroke-width="2" '
                f'stroke-linejoin="round"><title>{esc(name)}</title></path>'
            )
    parts.extend(dots)
    label = f' aria-label="{esc(title)}"' if title else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-size="11" role="img"{label}>{"".join(parts)}</svg>'
    )
