"""The model card (``model_card.md``) pushed with every version.

Sections: model details, intended use, data, quality, fairness per slice, energy and
carbon of training, compression, the gate's checks, canary verification, lineage.
Every figure comes from the blessing (which records the metrics the gate read) and the
files of the pushed artifact; a section without data says so instead of disappearing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

DEFAULT_INTENDED_USE = (
    "Binary classification of tabular records like those in the training data. "
    "Not evaluated for populations, features or decision thresholds other than those "
    "reported below; a person should review decisions with legal or similar effect."
)

_FAIRNESS_KEY = re.compile(
    r"^(?P<metric>[a-z_]+?)_(?P<kind>gap|ratio)_(?P<feature>.+)@(?P<threshold>[0-9.eE+-]+)$"
)

ENERGY_FIGURES = (
    ("energy_kwh", "energy (kWh)"),
    ("cpu_energy_kwh", "CPU energy (kWh)"),
    ("gpu_energy_kwh", "GPU energy (kWh)"),
    ("ram_energy_kwh", "RAM energy (kWh)"),
    ("emissions_kg_co2eq", "emissions (kg CO2eq)"),
    ("carbon_intensity_g_per_kwh", "carbon intensity (g CO2eq/kWh)"),
    ("duration_s", "duration (s)"),
)

COMPRESSION_FIGURES = (
    ("base_bytes", "base model (bytes)"),
    ("compressed_bytes", "compressed model (bytes)"),
    ("size_ratio", "size ratio (base/compressed)"),
    ("gzip_size_ratio", "gzip size ratio"),
    ("sparsity", "sparsity"),
    ("base_accuracy", "base accuracy"),
    ("compressed_accuracy", "compressed accuracy"),
    ("accuracy_drop", "accuracy drop"),
    ("base_auc", "base AUC"),
    ("compressed_auc", "compressed AUC"),
    ("base_latency_p95_ms", "base latency p95 (ms)"),
    ("compressed_latency_p95_ms", "compressed latency p95 (ms)"),
    ("latency_speedup_p50", "latency speed-up p50"),
    ("base_inference_energy_kwh_per_1k", "base inference energy (kWh / 1k)"),
    ("compressed_inference_energy_kwh_per_1k", "compressed inference energy (kWh / 1k)"),
    ("inference_energy_ratio", "inference energy ratio (base/compressed)"),
)

QUALITY_FIGURES = ("auc", "accuracy", "precision", "recall", "f1", "loss")


@dataclass
class CardFacts:
    """What the card says about one pushed version."""

    model_name: str
    version: int
    version_uri: str
    pushed_at: str
    blessing: Mapping[str, Any]
    model_metadata: Mapping[str, Any] = field(default_factory=dict)
    model_files: Sequence[str] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    lineage: Sequence[tuple[str, str, str]] = ()
    canary: Mapping[str, Any] = field(default_factory=dict)
    intended_use: str = ""


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value.is_integer() and abs(value) >= 1000:
            return f"{int(value):,}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _inputs(blessing: Mapping[str, Any], source: str) -> Optional[Mapping[str, float]]:
    entry = (blessing.get("inputs") or {}).get(source)
    return entry.get("metrics") if entry else None


def fairness_rows(fairness: Mapping[str, float]) -> list[tuple[str, str, str, Any, Any]]:
    """Returns ``(metric, feature, threshold, gap, ratio)`` rows from fairness metrics."""
    cells: dict[tuple[str, str, str], dict[str, float]] = {}
    for key, value in fairness.items():
        m = _FAIRNESS_KEY.match(key)
        if m and "_gap_significant_" not in key:
            slot = (m.group("metric"), m.group("feature"), m.group("threshold"))
            cells.setdefault(slot, {})[m.group("kind")] = value
    return [
        (metric, feature, threshold, kinds.get("gap"), kinds.get("ratio"))
        for (metric, feature, threshold), kinds in sorted(cells.items())
    ]


def render(facts: CardFacts) -> str:
    """Returns the model card as Markdown."""
    b = facts.blessing
    training = _inputs(b, "training")
    compression = _inputs(b, "compression")
    fairness = _inputs(b, "fairness")
    meta = facts.model_metadata
    out = [f"# Model card: {facts.model_name}, version {facts.version}", ""]

    out += ["## Model details", ""]
    details = [
        ("registry URI", facts.version_uri),
        ("pushed at (UTC)", facts.pushed_at),
        ("task", meta.get("task", "binary classification")),
        ("framework", meta.get("framework", "TensorFlow (tf_keras)")),
        ("parameters", (training or {}).get("param_count")),
        ("files", ", ".join(facts.model_files) or "–"),
    ]
    out += _table(["", ""], [(k, v) for k, v in details if v not in (None, "")])

    out += ["## Intended use", "", facts.intended_use or DEFAULT_INTENDED_USE, ""]

    out += ["## Data", ""]
    spec = meta.get("feature_spec") or {}
    data_rows = [
        ("label column", meta.get("label_column")),
        ("positive label", meta.get("positive_label")),
        ("numeric features", ", ".join(spec.get("numeric", []) or [])),
        ("categorical features", ", ".join(spec.get("categorical", []) or [])),
        ("training rows", meta.get("n_train")),
        ("evaluation rows", meta.get("n_eval")),
        *facts.data.items(),
    ]
    out += _table(["", ""], [(k, v) for k, v in data_rows if v not in (None, "")])

    out += ["## Quality", ""]
    candidate = b.get("candidate_metrics") or {}
    rows = [(m, info.get("value"), info.get("source")) for m, info in candidate.items()]
    for name in QUALITY_FIGURES:
        if training and name in training and name not in candidate:
            rows.append((name, training[name], "training.eval"))
    out += _table(["metric", "value", "source"], rows) if rows else ["No quality figures.", ""]

    out += ["## Fairness per slice", ""]
    if fairness is None:
        out += ["No fairness evaluation was given to the gate.", ""]
    else:
        rows = fairness_rows(fairness)
        if "max_fairness_gap" in fairness:
            out.append(f"Largest gap over every slice: {_fmt(fairness['max_fairness_gap'])}.")
            out.append("")
        out += (
            _table(["metric", "feature", "threshold", "gap (max − min)", "ratio (min/max)"], rows)
            if rows
            else ["The fairness metrics hold no per-feature gap.", ""]
        )

    out += ["## Energy and carbon of training", ""]
    if training is None:
        out += ["No training metrics were given to the gate.", ""]
    else:
        rows = [(label, training[key]) for key, label in ENERGY_FIGURES if key in training]
        out += _table(["", "training"], rows) if rows else ["Not recorded.", ""]

    out += ["## Compression", ""]
    if compression is None:
        out += ["The model was not compressed (or no compression metrics were given).", ""]
    else:
        rows = [
            (label, compression[key]) for key, label in COMPRESSION_FIGURES if key in compression
        ]
        out += _table(["", ""], rows)

    out += ["## Deployment gate", ""]
    checks = b.get("checks") or []
    out += _table(
        ["check", "metric read", "value", "threshold", "verdict"],
        [
            (
                c.get("name"),
                c.get("metric") or c.get("detail"),
                c.get("value"),
                f"{c.get('comparison')} {_fmt(c.get('threshold'))}",
                c.get("verdict"),
            )
            for c in checks
        ],
    )

    out += ["## Canary verification", ""]
    if facts.canary:
        out += [
            f"The pushed copy was loaded and scored {facts.canary.get('rows')} eval rows; "
            f"largest difference from the candidate's scores: "
            f"{_fmt(facts.canary.get('max_abs_diff'))} "
            f"(tolerance {_fmt(facts.canary.get('tolerance'))}).",
            "",
        ]
    else:
        out += ["Not recorded.", ""]

    out += ["## Lineage", ""]
    out += _table(["input", "URI", "SHA-256"], facts.lineage)
    return "\n".join(out)
