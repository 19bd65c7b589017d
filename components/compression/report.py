"""compress_model's HTML report: base and compressed side by side, every candidate."""

from __future__ import annotations

from typing import Any

from greenkfp.components._shared import html
from greenkfp.components._shared import step_keys as keys
from greenkfp.components.compression.task import CompressionOutcome


def render_compress_model(outcome: CompressionOutcome, energy: dict[str, Any]) -> str:
    """Renders the report as a self-contained HTML page.

    Args:
        outcome: What ``task.run_compress_model`` returned.
        energy: The step's own energy reading (``EnergyReading.to_dict()``).

    Returns:
        The HTML document.
    """
    m = outcome.figures
    config = outcome.metadata.get("config", {})
    fallback = bool(m.get(keys.FALLBACK, 0.0))
    headline = html.tiles(
        [
            ("kept", f"{outcome.chosen} (fallback)" if fallback else outcome.chosen),
            ("within budget", "yes" if m[keys.WITHIN_BUDGET] else "NO"),
            ("gzipped size ratio", m[keys.GZIP_SIZE_RATIO]),
            ("accuracy drop (points)", 100 * m[keys.ACCURACY_DROP]),
            ("p50 latency speed-up, batch 1", m[keys.LATENCY_SPEEDUP_P50]),
            ("inference energy ratio, batch 1", m[keys.INFERENCE_ENERGY_RATIO]),
        ]
    )
    selection = f'<p class="kv">{html.esc(outcome.metadata.get("selection", ""))}</p>'
    rows = [
        (f.label, m[f.base_key], m[f.compressed_key], f.unit)
        for f in keys.COMPRESSION_BEFORE_AFTER
        if f.base_key in m
    ]
    rows += [(f.label, "", m[f.key], "") for f in keys.COMPRESSION_RATIOS if f.key in m]
    side_by_side = html.table(["", "base (float32)", "compressed", "unit"], rows)
    batch = int(m.get(keys.SERVING_BATCH_SIZE, 0))
    notes = (
        '<p class="kv">Both models run from raw rows through the TFLite interpreter (default '
        "op resolver, so the XNNPACK delegate, as serving with it does) with "
        f"{int(m[keys.LATENCY_THREADS])} thread(s): the float32 preprocessing stage, then the "
        "core (float32 for the base). Latency is timed over "
        f"{config.get('latency_runs', '?')} calls at batch 1 and at a serving batch of "
        f"{batch} rows, after {config.get('latency_warmup', '?')} warm-up calls. Weight "
        f"sparsity {html.fmt(m[keys.SPARSITY], 3)}; decisions agree with the base model's on "
        f"{html.fmt(100 * m[keys.PREDICTION_AGREEMENT], 3)} % of eval rows. The accuracy drop's "
        f"exact upper bound is {html.fmt(100 * m[keys.ACCURACY_DROP_UPPER], 3)} points "
        f"(McNemar p = {html.fmt(m[keys.ACCURACY_DROP_P_VALUE], 3)}). Inference energy is "
        "what codecarbon measured (or estimated, see the method below) while predicting.</p>"
    )
    budget = (
        f"accuracy drop bound ≤ {html.fmt(config.get('max_accuracy_drop'))}, "
        f"AUC drop ≤ {html.fmt(config.get('max_auc_drop'))}"
    )
    charts = [
        _candidate_chart(outcome, key, label)
        for key, label in (
            ("gzip_bytes", "gzipped size (bytes)"),
            ("latency_p50_ms", "p50 latency, batch 1 (ms)"),
            ("batch_energy_kwh_per_1k", f"energy per 1,000 predictions, batch {batch} (kWh)"),
        )
    ]
    candidate_rows = [
        (
            c["name"],
            c["gzip_bytes"],
            c["accuracy"],
            c["accuracy_drop"],
            c["accuracy_drop_upper"],
            c["auc_drop"],
            c.get("validation_accuracy_drop_upper", ""),
            c.get("validation_auc_drop", ""),
            "yes" if c["within_budget"] else "no",
            c.get("latency_p50_ms", ""),
            c.get("batch_latency_p50_ms", ""),
            c.get("energy_kwh_per_1k", ""),
            c.get("batch_energy_kwh_per_1k", ""),
            "kept" if c["name"] == outcome.chosen else "",
        )
        for c in outcome.candidates
    ]
    candidates = html.table(
        [
            "candidate",
            "gzipped",
            "accuracy",
            "acc. drop",
            "drop bound",
            "AUC drop",
            "validation drop bound",
            "validation AUC drop",
            "in budget (validation)",
            "p50 ms",
            f"p50 ms, batch {batch}",
            "kWh / 1k",
            f"kWh / 1k, batch {batch}",
            "",
        ],
        candidate_rows,
    )
    return html.page(
        "Model compression",
        [
            html.section("Outcome", headline, selection),
            html.section("Base and compressed, side by side", side_by_side, notes),
            html.section(
                f"Candidates ({budget})",
                *charts,
                candidates,
                '<p class="kv">Accuracy and its drops: evaluation rows. The budget verdict '
                "(in budget): the validation rows carved from the training data, so the "
                "choice never sees the evaluation rows.</p>",
            ),
            html.section("Energy and carbon of this step", html.energy_section(energy)),
        ],
        subtitle=f"methods: {', '.join(outcome.metadata.get('methods', []))}",
    )


def _candidate_chart(outcome: CompressionOutcome, key: str, label: str) -> str:
    """Every candidate's accuracy against one figure; the kept one is marked."""
    points = [
        (float(c[key]), c["accuracy"], c["name"], c["name"] == outcome.chosen)
        for c in outcome.candidates
        if key in c
    ]
    return html.scatter_chart(
        points,
        x_label=label,
        y_label="eval accuracy",
        title=f"Accuracy against {label.split(' (')[0]} (kept: {outcome.chosen})",
    )
