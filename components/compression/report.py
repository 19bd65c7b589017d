"""compress_model's HTML report: base and compressed side by side, every candidate."""

from __future__ import annotations

from typing import Any

from greenkfp.components._shared import html
from greenkfp.components._shared.step_keys import COMPRESSION_BEFORE_AFTER, ENERGY_FIGURES
from greenkfp.components.compression.task import CompressionOutcome


def compression_report(outcome: CompressionOutcome, energy: dict[str, Any]) -> str:
    """Renders the report as a self-contained HTML page.

    Args:
        outcome: What ``task.compress`` returned.
        energy: The step's own energy reading (``EnergyReading.to_dict()``).

    Returns:
        The HTML document.
    """
    m = outcome.metrics
    config = outcome.metadata.get("config", {})
    headline = html.tiles(
        [
            ("kept", outcome.chosen),
            ("size ratio (base / compressed)", m["size_ratio"]),
            ("gzipped size ratio", m["gzip_size_ratio"]),
            ("accuracy drop (points)", 100 * m["accuracy_drop"]),
            ("AUC drop", m["auc_drop"]),
            ("p50 latency speed-up", m["latency_speedup_p50"]),
        ]
    )
    rows = [
        (f.label, m[f.base_key], m[f.compressed_key], f.unit)
        for f in COMPRESSION_BEFORE_AFTER
        if f.base_key in m
    ]
    side_by_side = html.table(["", "base (float32)", "compressed", "unit"], rows)
    notes = (
        '<p class="kv">Both models run from raw rows through the TFLite interpreter with '
        f"{int(m['latency_threads'])} thread(s): the float32 preprocessing stage, then the "
        "core (float32 for the base). Latency is timed over "
        f"{config.get('latency_runs', '?')} batch-1 predictions after "
        f"{config.get('latency_warmup', '?')} warm-up ones. Weight sparsity "
        f"{html.fmt(m['sparsity'], 3)}; decisions agree with the base model's on "
        f"{html.fmt(100 * m['prediction_agreement'], 3)} % of eval rows. Inference energy is "
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
    energy_rows = [(f.heading, energy.get(f.key)) for f in ENERGY_FIGURES if f.key in energy] + [
        ("method", energy.get("energy_method")),
        ("country / region", f"{energy.get('country_iso_code')} {energy.get('region') or ''}"),
    ]
    return html.page(
        "Model compression",
        [
            html.section("Outcome", headline),
            html.section("Base and compressed, side by side", side_by_side, notes),
            html.section(f"Candidates ({budget})", pareto, candidates),
            html.section("Energy and carbon of this step", html.table(["", ""], energy_rows)),
        ],
        subtitle=f"methods: {', '.join(outcome.metadata.get('methods', []))}",
    )
