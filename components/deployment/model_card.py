"""The model card (``model_card.md``) pushed with every version.

Sections: model details, intended use, data, quality, fairness per slice, energy and
carbon of training, compression, feature attributions, the gate's checks, canary
verification, human oversight, lineage, and a map of the card to the EU AI Act's
technical documentation items. Every figure comes from the blessing (which records the
metrics the gate read) and the files of the pushed artifact; a section without data
says so instead of disappearing. Lineage is portable: content hashes, the image, the
policy's hash; a URI only when it names shared storage (:func:`portable_uri`), never a
path that existed inside one run. The other formats (``hf_card``, ``mct_card``) share
:class:`CardFacts` and the helpers here.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from greenkfp.components._shared.step_keys import (
    ALL_ENERGY_FIGURES,
    BASELINE,
    COMPRESSION_BEFORE_AFTER,
    COMPRESSION_RATIOS,
    DELTA,
    GAP,
    MAX_FAIRNESS_GAP,
    RATIO,
    FairnessKey,
    parse_fairness_key,
    with_role,
)
from greenkfp.components._shared.step_records import BlessingRecord

DEFAULT_INTENDED_USE = (
    "Binary classification of tabular records like those in the training data. "
    "Not evaluated for populations, features or decision thresholds other than those "
    "reported below; a person should review decisions with legal or similar effect."
)

QUALITY_FIGURES = ("auc", "accuracy", "precision", "recall", "f1", "loss")
SHARED_SCHEMES = ("gs://", "s3://", "minio://", "http://", "https://", "oci://", "hf://")
RUN_LOCAL = "(run-local)"
IN_THIS_CARD = "(in this card)"

HUMAN_OVERSIGHT = (
    "The model only reaches the registry through the deployment gate (checks below); a "
    "person can roll LIVE back or retire a version with `greenkfp registry rollback|retire`, "
    "and every push, rollback and retirement is recorded with its actor and reason in the "
    "model's hash-chained audit log (`greenkfp registry audit`). Decisions with legal or "
    "similar effect (e.g. refusing credit) should be reviewed by a person."
)

# Annex IV of Regulation (EU) 2024/1689 (AI Act), technical documentation of a high-risk
# system (credit scoring is Annex III 5(b)); energy is asked of general-purpose models
# (Annex XI 2(e)) and reported here voluntarily. Columns: item, reference, where the
# Markdown card (model_card.md) answers it, where the Hugging Face card (README.md) does.
EU_AI_ACT_ITEMS = (
    ("Intended purpose", "Annex IV 1(a)", "Intended use", "Intended use"),
    ("Data and its provenance", "Annex IV 2(d); Art. 10", "Data, Lineage", "Data, Lineage"),
    (
        "Metrics, validation and testing",
        "Annex IV 2(g), 3",
        "Quality, Deployment gate, Canary verification",
        "Metrics, Deployment gate",
    ),
    (
        "Fairness (bias examination)",
        "Art. 10(2)(f)-(g); Annex IV 2(g)",
        "Fairness per slice, Feature attributions",
        "Fairness, Feature attributions",
    ),
    ("Human oversight", "Art. 14; Annex IV 2(e)", "Human oversight", "Human oversight"),
    (
        "Energy and emissions",
        "Annex XI 2(e) (voluntary here)",
        "Energy and carbon of training",
        "co2_eq_emissions, Energy",
    ),
    (
        "Record-keeping of changes",
        "Art. 12; Annex IV 6",
        "registry AUDIT.jsonl",
        "registry AUDIT.jsonl",
    ),
)


@dataclass
class CardFacts:
    """What the card says about one pushed version."""

    model_name: str
    version: int
    version_uri: str
    pushed_at: str
    blessing: BlessingRecord
    model_metadata: Mapping[str, Any] = field(default_factory=dict)
    model_files: Sequence[str] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    lineage: Sequence[tuple[str, str, str]] = ()
    canary: Mapping[str, Any] = field(default_factory=dict)
    intended_use: str = ""
    top_features: Sequence[tuple[str, float]] = ()
    """The most important features and their permutation importance (AUC drop)."""
    attribution_std: Mapping[str, float] = field(default_factory=dict)
    """The standard deviation of each top feature's importance over the shuffles."""
    image: str = ""
    """The component image that trained, judged and pushed the model."""
    hardware: str = ""
    """What training ran on (CPU and GPU models as its energy reading recorded them)."""
    location: str = ""
    """The grid training drew from (country ISO code and region as recorded)."""
    group_thresholds: Mapping[str, Any] = field(default_factory=dict)
    """The per-group decision thresholds the version applies (fairness mitigation), if any."""


def portable_uri(uri: str) -> str:
    """The URI when it names shared storage; ``""`` for a path local to one run."""
    return uri if isinstance(uri, str) and uri.startswith(SHARED_SCHEMES) else ""


def policy_sha256(facts: CardFacts) -> str:
    """The SHA-256 of the gate's effective policy (canonical JSON, defaults filled in)."""
    policy = json.dumps(facts.blessing.policy, sort_keys=True)
    return hashlib.sha256(policy.encode()).hexdigest()


def lineage_rows(facts: CardFacts) -> list[tuple[str, str, str]]:
    """``(input, portable URI or "", SHA-256 or "")`` rows, the image and the policy first."""
    rows = [
        ("component image", facts.image, ""),
        ("gate policy", IN_THIS_CARD, policy_sha256(facts)),
    ]
    rows += [
        (name, portable_uri(uri), digest if digest not in ("", "–") else "")
        for name, uri, digest in facts.lineage
    ]
    return rows


def model_features(meta: Mapping[str, Any]) -> list[str]:
    """The model's input columns: ``feature_spec`` (trained) or ``inputs`` (compressed)."""
    spec = meta.get("feature_spec") or {}
    features = [*spec.get("numeric", []), *spec.get("categorical", [])]
    inputs = meta.get("inputs")
    return features or (sorted(inputs) if isinstance(inputs, Mapping) else [])


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


def fairness_rows(fairness: Mapping[str, float]) -> list[tuple[str, str, str, Any, Any]]:
    """Returns ``(metric, feature, threshold, gap, ratio)`` rows of the evaluated model.

    Significance flags and the ``baseline_``/``delta_`` comparisons are not rows of their
    own: :func:`render` shows the comparisons as columns beside the gap they compare.
    """
    cells: dict[tuple[str, str, str], dict[str, float]] = {}
    for key, value in fairness.items():
        parsed = parse_fairness_key(key)
        if parsed is not None and parsed.is_metric:
            slot = (parsed.metric, parsed.feature, parsed.threshold)
            cells.setdefault(slot, {})[parsed.kind] = value
    return [
        (metric, feature, threshold, kinds.get(GAP), kinds.get(RATIO))
        for (metric, feature, threshold), kinds in sorted(cells.items())
    ]


def _fairness_section(fairness: Mapping[str, float]) -> list[str]:
    out = []
    if MAX_FAIRNESS_GAP in fairness:
        baseline = fairness.get(with_role(BASELINE, MAX_FAIRNESS_GAP))
        against = f" (baseline model: {_fmt(baseline)})" if baseline is not None else ""
        out += [f"Largest gap over every slice: {_fmt(fairness[MAX_FAIRNESS_GAP])}{against}.", ""]
    rows: list[tuple[Any, ...]] = list(fairness_rows(fairness))
    if not rows:
        return out + ["The fairness metrics hold no per-feature gap.", ""]
    headers = ["metric", "feature", "threshold", "gap (max − min)", "ratio (min/max)"]
    compared = [
        (*row, *(fairness.get(str(FairnessKey(*row[:3], GAP, role))) for role in (BASELINE, DELTA)))
        for row in rows
    ]
    if any(row[5] is not None for row in compared):
        headers += ["baseline gap", "gap change (candidate − baseline)"]
        rows = compared
    return out + _table(headers, rows)


def _thresholds_section(spec: Mapping[str, Any]) -> list[str]:
    """What the fairness mitigation's per-group thresholds mean for whoever calls the model."""
    if not spec:
        return []
    feature = spec.get("feature", "")
    rows = [(group, t) for group, t in sorted((spec.get("thresholds") or {}).items())]
    return [
        "### Fairness mitigation: per-group decision thresholds",
        "",
        f"This version applies a decision threshold per group of **{feature}** "
        f"({spec.get('criterion', '')}; chosen on {spec.get('chosen_on', 'training rows')}), "
        f"mapped onto the operating threshold {_fmt(spec.get('operating_threshold'))} "
        "(group_thresholds.json). **The sensitive feature "
        f"{feature} is needed at prediction time**: rows without it are refused.",
        "",
        *_table(["group", "threshold"], rows),
    ]


def render(facts: CardFacts) -> str:
    """Returns the model card as Markdown."""
    blessing = facts.blessing
    training = blessing.input_metrics("training")
    compression = blessing.input_metrics("compression")
    fairness = blessing.input_metrics("fairness")
    meta = facts.model_metadata
    out = [f"# Model card: {facts.model_name}, version {facts.version}", ""]

    out += ["## Model details", ""]
    details = [
        (
            "registry URI",
            portable_uri(facts.version_uri)
            or f"version {facts.version} of the registry's {facts.model_name}",
        ),
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
    candidate = blessing.candidate_metrics
    rows = [(m, info.get("value"), info.get("source")) for m, info in candidate.items()]
    for name in QUALITY_FIGURES:
        if training and name in training and name not in candidate:
            rows.append((name, training[name], "training.eval"))
    out += _table(["metric", "value", "source"], rows) if rows else ["No quality figures.", ""]

    out += ["## Fairness per slice", ""]
    if fairness is None:
        out += ["No fairness evaluation was given to the gate.", ""]
    else:
        out += _fairness_section(fairness)
    out += _thresholds_section(facts.group_thresholds)

    out += ["## Energy and carbon of training", ""]
    if training is None:
        out += ["No training metrics were given to the gate.", ""]
    else:
        rows = [(f.heading, training[f.key]) for f in ALL_ENERGY_FIGURES if f.key in training]
        rows += [(k, v) for k, v in (("hardware", facts.hardware), ("grid", facts.location)) if v]
        out += _table(["", "training"], rows) if rows else ["Not recorded.", ""]

    out += ["## Compression", ""]
    if compression is None:
        out += ["The model was not compressed (or no compression metrics were given).", ""]
    else:
        rows = [
            (f.label, compression.get(f.base_key), compression.get(f.compressed_key), f.unit)
            for f in COMPRESSION_BEFORE_AFTER
            if f.base_key in compression or f.compressed_key in compression
        ]
        ratios = [(f.label, compression[f.key]) for f in COMPRESSION_RATIOS if f.key in compression]
        out += _table(["", "base", "compressed", "unit"], rows) if rows else []
        out += _table(["", ""], ratios) if ratios else []
        if not rows and not ratios:
            out += ["No compression figures were recorded.", ""]

    out += ["## Feature attributions", ""]
    if facts.top_features:
        out += [
            "Permutation importance on the eval rows: the drop of ROC AUC when one feature "
            "is shuffled (per slice in `attributions.json`).",
            "",
        ]
        out += _table(["feature", "AUC drop"], facts.top_features)
    else:
        out += ["Not computed.", ""]

    out += ["## Deployment gate", ""]
    out += _table(
        ["check", "metric read", "value", "threshold", "verdict"],
        [
            (
                c.name,
                c.metric or c.detail,
                c.value,
                f"{c.comparison} {_fmt(c.threshold)}",
                c.verdict,
            )
            for c in blessing.checks
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

    out += ["## Human oversight", "", HUMAN_OVERSIGHT, ""]

    out += ["## Lineage", ""]
    out += [
        "Content hashes identify each input; a URI is shown only where it names shared "
        f"storage ({RUN_LOCAL}: a path that existed inside the run only).",
        "",
    ]
    out += _table(
        ["input", "URI", "SHA-256"],
        [(n, u or RUN_LOCAL, h or "–") for n, u, h in lineage_rows(facts)],
    )
    out += ["Gate policy (defaults filled in):", "", "```json"]
    out += [json.dumps(facts.blessing.policy, indent=2, sort_keys=True), "```", ""]

    out += ["## EU AI Act technical documentation", ""]
    out += [
        "Where this card answers each item (a map for reviewers; not legal advice).",
        "",
    ]
    out += _table(
        ["item", "AI Act reference", "section of this card"],
        [(item, ref, where) for item, ref, where, _ in EU_AI_ACT_ITEMS],
    )
    return "\n".join(out)
