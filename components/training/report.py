"""Self-contained HTML report of one training run: curves, evaluation, energy and model."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from greenkfp.components._shared import html
from greenkfp.components._shared.binary_metrics import auc_from_roc

if TYPE_CHECKING:
    from greenkfp.components.training.task import TrainingOutcome

MODEL_BYTES_KEYS = ("model_bytes", "keras_model_bytes", "saved_model_bytes")
"""``model_facts`` keys tried, in order, for the model-size tile."""

_MISSING = "–"


def _number(value: object) -> object:
    """Returns a finite number as is, anything else (None, NaN, text) as a dash."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _MISSING
    return value if math.isfinite(value) else _MISSING


def _first(mapping: dict[str, Any], keys: Sequence[str]) -> object:
    return next((mapping[k] for k in keys if mapping.get(k) is not None), None)


def _history_charts(history: dict[str, list[float]]) -> str:
    """One line chart per metric (``loss``, ``auc``, then others), train and ``val_`` forms."""
    bases: list[str] = []
    for key in history:
        base = key[4:] if key.startswith("val_") else key
        if base not in bases:
            bases.append(base)
    bases.sort(key=lambda b: (b != "loss", b != "auc"))  # stable: loss, auc, then as given
    charts = []
    for base in bases:
        series = {k: history[k] for k in (base, f"val_{base}") if k in history}
        title = f"{base} per epoch"
        charts.append(html.line_chart(series, x_label="epoch", width=440, height=230, title=title))
    if not charts:
        return '<div class="kv">no training history</div>'
    return f'<div class="grid">{"".join(charts)}</div>'


def _roc_chart(
    fpr: Sequence[float],
    tpr: Sequence[float],
    thresholds: Sequence[float],
    auc: float,
    operating_point: tuple[float, float] | None = None,
) -> str:
    """An inline SVG ROC plot: FPR on x, TPR on y, both 0..1, with the chance diagonal."""
    if len(fpr) < 2:
        return '<div class="kv">no ROC curve</div>'
    size, left, top, bottom = 240, 44, 10, 36
    width, height = left + size + 14, top + size + bottom

    def x_at(v: float) -> float:
        return left + size * v

    def y_at(v: float) -> float:
        return top + size * (1.0 - v)

    parts = []
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{left}" y1="{y_at(t):.1f}" x2="{left + size}" y2="{y_at(t):.1f}" '
            f'stroke="#e4e7eb"/><line x1="{x_at(t):.1f}" y1="{top}" x2="{x_at(t):.1f}" '
            f'y2="{top + size}" stroke="#e4e7eb"/>'
            f'<text x="{left - 5}" y="{y_at(t) + 4:.1f}" text-anchor="end" fill="#616e7c">'
            f"{t:g}</text>"
            f'<text x="{x_at(t):.1f}" y="{top + size + 15}" text-anchor="middle" '
            f'fill="#616e7c">{t:g}</text>'
        )
    points = [(x_at(x), y_at(y)) for x, y in zip(fpr, tpr)]
    line = " ".join(f"{'L' if i else 'M'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
    area = f"{line} L{x_at(fpr[-1]):.1f},{y_at(0):.1f} L{x_at(fpr[0]):.1f},{y_at(0):.1f} Z"
    parts.append(f'<path d="{area}" fill="{html.BAR_COLOR}" fill-opacity="0.12" stroke="none"/>')
    parts.append(
        f'<line x1="{x_at(0)}" y1="{y_at(0)}" x2="{x_at(1)}" y2="{y_at(1)}" stroke="#9aa5b1" '
        f'stroke-dasharray="4 3"><title>chance (AUC 0.5)</title></line>'
    )
    parts.append(
        f'<path d="{line}" fill="none" stroke="{html.BAR_COLOR}" stroke-width="2" '
        f'stroke-linejoin="round"/>'
    )
    for (x, y), f, t, th in zip(points, fpr, tpr, thresholds):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{html.BAR_COLOR}" fill-opacity="0">'
            f"<title>threshold {html.esc(html.fmt(float(th), 4))}: FPR {f:.3f}, TPR {t:.3f}"
            f"</title></circle>"
        )
    if operating_point is not None:
        ox, oy = operating_point
        parts.append(
            f'<circle cx="{x_at(ox):.1f}" cy="{y_at(oy):.1f}" r="4" fill="{html.ALERT_COLOR}">'
            f"<title>threshold 0.5: FPR {ox:.3f}, TPR {oy:.3f}</title></circle>"
        )
    parts.append(
        f'<rect x="{left + size - 92}" y="{top + size - 28}" width="86" height="20" rx="3" '
        f'fill="#fff" fill-opacity="0.85"/>'
        f'<text x="{left + size - 8}" y="{top + size - 14}" text-anchor="end" '
        f'font-weight="600">AUC {html.esc(html.fmt(auc, 4))}</text>'
    )
    parts.append(
        f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#cbd2d9"/>'
        f'<text x="{left + size / 2}" y="{height - 4}" text-anchor="middle" fill="#616e7c">'
        f"false positive rate</text>"
        f'<text transform="translate(11,{top + size / 2}) rotate(-90)" text-anchor="middle" '
        f'fill="#616e7c">true positive rate</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-size="11" role="img" aria-label="ROC curve">{"".join(parts)}</svg>'
    )


def _confusion_section(confusion: list[list[int]]) -> str:
    (tn, fp), (fn, tp) = confusion
    matrix = html.table(
        ["", "predicted negative", "predicted positive", "total"],
        [
            ["actual negative", tn, fp, tn + fp],
            ["actual positive", fn, tp, fn + tp],
            ["total", tn + fn, fp + tp, tn + fp + fn + tp],
        ],
    )
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    rates = html.table(
        ["precision", "recall", "f1", "false positive rate"],
        [[precision, recall, f1, fp / (fp + tn) if fp + tn else 0.0]],
    )
    return matrix + rates


def _fact(value: object) -> object:
    if isinstance(value, dict):
        return ", ".join(f"{k}={html.fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(html.fmt(v) for v in value)
    return value


def training_report(
    history: dict[str, list[float]],
    eval_metrics: dict[str, float],
    energy: dict[str, object],
    confusion: list[list[int]],
    roc: tuple[list, list, list],
    model_facts: dict[str, object],
    title: str = "Training report",
) -> str:
    """Renders one training run as a self-contained HTML page (inline CSS and SVG only).

    Args:
        history: Per-epoch metrics from Keras, e.g. ``loss``, ``val_loss``, ``auc``,
            ``val_auc``; one chart per metric with its ``val_`` form.
        eval_metrics: Figures on the evaluation set: ``auc``, ``accuracy``, ``loss``.
        energy: An energy reading as a dict (``EnergyReading.to_dict()``): ``energy_kwh``,
            its CPU/GPU/RAM parts, ``emissions_kg_co2eq``, ``carbon_intensity_g_per_kwh``,
            ``duration_s``, ``energy_method``, ``country_iso_code``, ``region``.
        confusion: ``[[TN, FP], [FN, TP]]`` at threshold 0.5, from
            :func:`~greenkfp.components._shared.binary_metrics.confusion_matrix`.
        roc: ``(fpr, tpr, thresholds)`` from
            :func:`~greenkfp.components._shared.binary_metrics.roc_curve`.
        model_facts: Facts shown in the Model table; ``param_count`` and ``model_bytes``
            (or ``keras_model_bytes`` / ``saved_model_bytes``) also feed the tiles.
        title: Page title.

    Returns:
        The HTML document.
    """
    fpr, tpr, thresholds = (list(v) for v in roc)
    auc = eval_metrics.get("auc")
    if _number(auc) == _MISSING and len(fpr) >= 2:
        auc = auc_from_roc(fpr, tpr)
    (tn, fp), (fn, tp) = confusion
    operating = (fp / (fp + tn) if fp + tn else 0.0, tp / (tp + fn) if tp + fn else 0.0)
    headline = html.tiles(
        [
            ("eval AUC", _number(auc)),
            ("eval accuracy", _number(eval_metrics.get("accuracy"))),
            ("eval loss", _number(eval_metrics.get("loss"))),
            ("parameters", _number(_first(model_facts, ("param_count", "parameters")))),
            ("model bytes", _number(_first(model_facts, MODEL_BYTES_KEYS))),
            ("energy kWh", _number(energy.get("energy_kwh"))),
            ("emissions kg CO2eq", _number(energy.get("emissions_kg_co2eq"))),
            ("duration s", _number(energy.get("duration_s"))),
        ]
    )
    auc_value = float(auc) if _number(auc) != _MISSING else float("nan")
    body = [
        headline,
        html.section("Training curves", _history_charts(history)),
        html.section("Confusion matrix (eval, threshold 0.5)", _confusion_section(confusion)),
        html.section(
            "ROC curve (eval)",
            _roc_chart(fpr, tpr, thresholds, auc_value, operating),
            '<p class="kv">Red dot: the operating point at threshold 0.5.</p>',
        ),
        html.section("Energy and carbon", html.energy_section(energy)),
        html.section(
            "Model",
            html.table(["fact", "value"], [[k, _fact(v)] for k, v in model_facts.items()]),
        ),
    ]
    subtitle = f"{len(next(iter(history.values()), []))} epochs" if history else ""
    return html.page(title, body, subtitle=subtitle)


def render_train_model(outcome: TrainingOutcome, energy: dict[str, object]) -> str:
    """Renders ``train_model``'s report: curves, confusion matrix, ROC, energy, the model.

    Args:
        outcome: What ``task.run_train_model`` returned.
        energy: The step's energy reading (``EnergyReading.to_dict()``).

    Returns:
        The HTML document.
    """
    facts = {k: v for k, v in outcome.metadata.items() if not isinstance(v, list)}
    facts.update({k: int(outcome.figures[k]) for k in ("model_bytes", "keras_model_bytes")})
    return training_report(
        outcome.history, outcome.figures, energy, outcome.confusion, outcome.roc, facts
    )
