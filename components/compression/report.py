"""compress_model's HTML report: base and compressed side by side, every candidate."""

from __future__ import annotations

from typing import Any

from greenkfp.components._shared import html
from greenkfp.components.compression.task import CompressionOutcome

#: (label, base key, compressed key, unit) rows of the side-by-side table.
SIDE_BY_SIDE = (
    ("Size (TFLite, both stages)", "base_bytes", "compressed_bytes", "bytes"),
    ("Size gzipped", "base_gzip_bytes", "compressed_gzip_bytes", "bytes"),
    ("Accuracy (eval)", "base_accuracy", "compressed_accuracy", ""),
    ("AUC (eval)", "base_auc", "compressed_auc", ""),
    ("Latency p50, batch 1", "base_latency_p50_ms", "compressed_latency_p50_ms", "ms"),
    ("Latency p95, batch 1", "base_latency_p95_ms", "compressed_latency_p95_ms", "ms"),
    (
        "Inference energy per 1,000 predictions",
        "base_inference_energy_kwh_per_1k",
        "compressed_inference_energy_kwh_per_1k",
        "kWh",
    ),
)


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
        (label, m[base], m[comp], unit) for label, base, comp, unit in SIDE_BY_SIDE if base in m
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
    energy_rows = [
        ("duration (s)", energy.get("duration_s")),
        ("energy (kWh)", energy.get("energy_kwh")),
        ("emissions (kg CO2eq)", energy.get("emissions_kg_co2eq")),
        ("carbon intensity (g/kWh)", energy.get("carbon_intensity_g_per_kwh")),
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
