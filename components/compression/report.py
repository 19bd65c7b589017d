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
    headline = html.tiles(
        [
            ("kept", outcome.chosen),
            ("size ratio (base / compressed)", m[keys.SIZE_RATIO]),
            ("gzipped size ratio", m[keys.GZIP_SIZE_RATIO]),
            ("accuracy drop (points)", 100 * m[keys.ACCURACY_DROP]),
            ("AUC drop", m[keys.AUC_DROP]),
            ("p50 latency speed-up", m[keys.LATENCY_SPEEDUP_P50]),
        ]
    )
    rows = [
        (f.label, m[f.base_key], m[f.compressed_key], f.unit)
        for f in keys.COMPRESSION_BEFORE_AFTER
        if f.base_key in m
    ]
    side_by_side = html.table(["", "base (float32)", "compressed", "unit"], rows)
    notes = (
        '<p class="kv">Both models run from raw rows through the TFLite interpreter with '
        f"{int(m[keys.LATENCY_THREADS])} thread(s): the float32 preprocessing stage, then the "
        "core (float32 for the base). Latency is timed over "
        f"{config.get('latency_runs', '?')} batch-1 predictions after "
        f"{config.get('latency_warmup', '?')} warm-up ones. Weight sparsity "
        f"{html.fmt(m[keys.SPARSITY], 3)}; decisions agree with the base model's on "
        f"{html.fmt(100 * m[keys.PREDICTION_AGREEMENT], 3)} % of eval rows. Inference energy is "
        "what codecarbon measured (or estimated, see the method below) while predicting.</p>"
    )
    budget = (
        f"accuracy drop ≤ {html.fmt(config.get('max_accuracy_drop'))}, "
        f"AUC drop ≤ {html.fmt(config.get('max_auc_drop'))}"
    )
    points = [
        (c["gzip_bytes"], c["accuracy"], c["name"], c["name"] == outcome.chosen)
        for c in outcome.candidates
    ]
    pareto = html.scatter_chart(
        points,
        x_label="gzipped size (bytes)",
        y_label="eval accuracy",
        title=f"Candidates: size against quality (kept: {outcome.chosen})",
    )
    candidate_rows = [
        (
            c["name"],
            c["total_bytes"],
            c["gzip_bytes"],
            c["accuracy"],
            c["accuracy_drop"],
            c["auc"],
            c["auc_drop"],
            "yes" if c["within_budget"] else "no",
            "kept" if c["name"] == outcome.chosen else "",
        )
        for c in outcome.candidates
    ]
    candidates = html.table(
        [
            "candidate",
            "bytes",
            "gzipped",
            "accuracy",
            "acc. drop",
            "AUC",
            "AUC drop",
            "in budget",
            "",
        ],
        candidate_rows,
    )
    return html.page(
        "Model compression",
        [
            html.section("Outcome", headline),
            html.section("Base and compressed, side by side", side_by_side, notes),
            html.section(f"Candidates ({budget})", pareto, candidates),
            html.section("Energy and carbon of this step", html.energy_table(energy)),
        ],
        subtitle=f"methods: {', '.join(outcome.metadata.get('methods', []))}",
    )
