"""Draws a pipeline's task graph as a self-contained SVG, from its compiled spec.

The picture in the README is made here, from the same spec the KFP UI draws, so it
shows the pipeline as it is. Tasks stand in rows by their depth in the graph (the
longest chain of tasks before them), top to bottom as in the KFP UI. An arrow is a
data or ``.after()`` dependency; one that a longer chain already implies is left out
(transitive reduction), so the picture stays readable.
Needs only ``kfp``.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

BOX_WIDTH, BOX_HEIGHT = 230, 40
COLUMN_GAP, ROW_GAP, MARGIN = 24, 22, 16
# Fill colour per component family, so the stages read at a glance.
FAMILY_COLOURS = {
    "import_csv": "#e8f0fe",
    "generate_statistics": "#e8f0fe",
    "infer_schema": "#e8f0fe",
    "validate_data": "#e8f0fe",
    "train_model": "#e6f4ea",
    "compress_model": "#fef7e0",
    "evaluate_fairness": "#fce8f3",
    "evaluate_gate": "#fce8e6",
    "deploy_model": "#fce8e6",
    "sustainability_report": "#e6f4ea",
}


def component_name(task: Any) -> str:
    """The component a task of a compiled pipeline runs, e.g. ``generate_statistics``."""
    name = re.sub(r"-\d+$", "", task.component_ref.name.removeprefix("comp-"))
    return name.replace("-", "_")


def task_graph(pipeline: Any) -> dict[str, tuple[str, str, list[str]]]:
    """Returns task name -> (display name, component, upstream task names)."""
    graph = {}
    for name, task in pipeline.pipeline_spec.root.dag.tasks.items():
        graph[name] = (
            task.task_info.name or name,
            component_name(task),
            sorted(task.dependent_tasks),
        )
    return graph


def _depths(graph: dict[str, tuple[str, str, list[str]]]) -> dict[str, int]:
    depths: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in depths:
            depths[name] = 1 + max((depth(up) for up in graph[name][2]), default=-1)
        return depths[name]

    for name in graph:
        depth(name)
    return depths


def _reduced_upstream(graph: dict[str, tuple[str, str, list[str]]]) -> dict[str, list[str]]:
    """Each task's upstream tasks, less those reachable through another upstream task."""
    ancestors: dict[str, set[str]] = {}

    def of(name: str) -> set[str]:
        if name not in ancestors:
            ancestors[name] = set()
            for up in graph[name][2]:
                ancestors[name] |= {up, *of(up)}
        return ancestors[name]

    return {
        name: [u for u in ups if not any(u in of(other) for other in ups if other != u)]
        for name, (_, _, ups) in graph.items()
    }


def _label_lines(text: str, width: int = 32) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line][:2]


def render_svg(pipeline: Any) -> str:
    """Returns the pipeline's task graph as SVG text (no scripts, no external resources)."""
    graph = task_graph(pipeline)
    depths = _depths(graph)
    rows: dict[int, list[str]] = {}
    for name in sorted(graph, key=lambda n: (depths[n], graph[n][0])):
        rows.setdefault(depths[name], []).append(name)
    columns = max(len(r) for r in rows.values())
    width = 2 * MARGIN + columns * BOX_WIDTH + (columns - 1) * COLUMN_GAP
    height = 2 * MARGIN + len(rows) * BOX_HEIGHT + (len(rows) - 1) * ROW_GAP
    position = {}
    for row, names in rows.items():
        left = (width - len(names) * BOX_WIDTH - (len(names) - 1) * COLUMN_GAP) / 2
        for column, name in enumerate(names):
            x = left + column * (BOX_WIDTH + COLUMN_GAP)
            position[name] = (x, MARGIN + row * (BOX_HEIGHT + ROW_GAP))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>{html.escape(pipeline.name)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#5f6368"/>'
        "</marker></defs>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for name, upstream in _reduced_upstream(graph).items():
        x2, y2 = position[name]
        for up in upstream:
            x1, y1 = position[up]
            start = (x1 + BOX_WIDTH / 2, y1 + BOX_HEIGHT)
            if depths[name] - depths[up] == 1:
                end = (x2 + BOX_WIDTH / 2, y2)
                bend = (start[1] + end[1]) / 2
                route = f"C{start[0]:.0f},{bend:.0f} {end[0]:.0f},{bend:.0f}"
            else:  # skips rows: run down beside the boxes, enter the target from its side
                side = x2 if start[0] < x2 + BOX_WIDTH / 2 else x2 + BOX_WIDTH
                end = (side, y2 + BOX_HEIGHT / 2)
                route = f"C{start[0]:.0f},{end[1]:.0f} {start[0]:.0f},{end[1]:.0f}"
            parts.append(
                f'<path d="M{start[0]:.0f},{start[1]:.0f} {route} {end[0]:.0f},{end[1]:.0f}" '
                'fill="none" stroke="#9aa0a6" stroke-width="1.4" marker-end="url(#arrow)"/>'
            )
    for name, (display, component, _) in graph.items():
        x, y = position[name]
        fill = FAMILY_COLOURS.get(component, "#f1f3f4")
        parts.append(
            f"<g><title>{html.escape(name)} ({html.escape(component)})</title>"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="8" '
            f'fill="{fill}" stroke="#5f6368" stroke-width="1"/>'
        )
        lines = _label_lines(display)
        for i, line in enumerate(lines):
            offset = (i - (len(lines) - 1) / 2) * 15 + 5
            parts.append(
                f'<text x="{x + BOX_WIDTH / 2:.0f}" y="{y + BOX_HEIGHT / 2 + offset:.0f}" '
                f'font-size="12.5" text-anchor="middle" fill="#202124">{html.escape(line)}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_graphs(output_dir: str | os.PathLike = "build/pipelines") -> list[Path]:
    """Writes ``<pipeline>.svg`` for every ready pipeline; returns the paths written."""
    from greenkfp.pipelines import ALL_PIPELINES

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, pipeline in ALL_PIPELINES.items():
        path = out / f"{name}.svg"
        path.write_text(render_svg(pipeline))
        written.append(path)
    return written
