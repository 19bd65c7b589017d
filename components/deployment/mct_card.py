"""The Model Card Toolkit card (``model_card.json``, schema v0.0.2) pushed with every version.

The same facts as ``model_card.md`` (:class:`~model_card.CardFacts`) in the structured
form the TFX world reads, validated against the published schema vendored in
``schema/model_card_toolkit/`` (Apache-2.0, source and commit in its README) before it
is written: a card that does not validate fails the push, and nothing is published.

The schema has no field for energy or emissions. They go where it allows: as
``quantitative_analysis.performance_metrics`` (``training energy (kWh)``, ``training
emissions (kg CO2eq)``, ...), and as an entry of ``considerations.ethical_considerations``
(whose description names environmental risks) with the hardware and grid. Fairness gaps
are metrics with the sensitive feature as their ``slice``; feature attributions are
metrics named ``permutation importance: <feature>``. Lineage (content hashes, the image,
the policy's hash, the gate's checks) is in ``model_details.documentation``; datasets
carry their SHA-256 in their description, never a path local to one run.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.step_keys import (
    BASELINE,
    DELTA,
    ENERGY_FIGURES,
    ENERGY_HIGH,
    ENERGY_LOW,
    split_role,
)
from greenkfp.components.deployment.model_card import (
    DEFAULT_INTENDED_USE,
    HUMAN_OVERSIGHT,
    CardFacts,
    fairness_rows,
    lineage_rows,
    model_features,
    portable_uri,
)

SCHEMA_VERSION = "0.0.2"
SCHEMA_PATH = os.path.join(
    os.path.dirname(__file__),
    "schema",
    "model_card_toolkit",
    f"v{SCHEMA_VERSION}",
    "model_card.schema.json",
)


def load_schema() -> dict[str, Any]:
    """The vendored Model Card Toolkit schema v0.0.2."""
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return json.load(f)


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


def _text(number: float) -> str:
    return format(number, ".6g")


def _metric(
    kind: str, value: Any, slice_: str = "", bounds: tuple[Any, Any] = (None, None)
) -> list[dict[str, Any]]:
    """One performance metric (the schema wants its value as a string), or none if NaN."""
    number = _number(value)
    if number is None:
        return []
    entry: dict[str, Any] = {"type": kind, "value": _text(number)}
    if slice_:
        entry["slice"] = slice_
    low, high = (_number(b) for b in bounds)
    if low is not None and high is not None:
        entry["confidence_interval"] = {"lower_bound": _text(low), "upper_bound": _text(high)}
    return [entry]


def _spread(mean: float, std: Optional[float]) -> tuple[Any, Any]:
    return (None, None) if _number(std) is None else (mean - std, mean + std)


def _performance_metrics(facts: CardFacts) -> list[dict[str, Any]]:
    blessing = facts.blessing
    out: list[dict[str, Any]] = []
    for name, info in blessing.candidate_metrics.items():
        if split_role(name)[0] not in (BASELINE, DELTA):
            out += _metric(name, info.get("value"))
    for metric, feature, threshold, gap, ratio in fairness_rows(
        blessing.input_metrics("fairness") or {}
    ):
        where = f"{feature} (threshold {threshold})"
        out += _metric(f"{metric} gap (max - min over slices)", gap, where)
        out += _metric(f"{metric} ratio (min / max over slices)", ratio, where)
    training = blessing.input_metrics("training") or {}
    for f in ENERGY_FIGURES:
        bounds = (training.get(ENERGY_LOW), training.get(ENERGY_HIGH))
        out += _metric(
            f"training {f.heading}",
            training.get(f.key),
            bounds=bounds if f.key == "energy_kwh" else (None, None),
        )
    out += [
        m
        for feature, drop in facts.top_features
        for m in _metric(
            f"permutation importance: {feature} (ROC AUC drop; interval: mean +/- 1 std "
            "over the shuffles)",
            drop,
            bounds=_spread(drop, facts.attribution_std.get(feature)),
        )
    ]
    return out


def _energy_consideration(facts: CardFacts) -> list[dict[str, str]]:
    training = facts.blessing.input_metrics("training") or {}
    energy, emissions = (_number(training.get(k)) for k in ("energy_kwh", "emissions_kg_co2eq"))
    if energy is None and emissions is None:
        return []
    parts = [f"{energy:.4g} kWh" if energy is not None else "energy not recorded"]
    parts.append(f"{emissions:.4g} kg CO2eq" if emissions is not None else "emissions unknown")
    where = ", ".join(
        f"{k} {v}" for k, v in (("on", facts.hardware), ("grid", facts.location)) if v
    )
    return [
        {
            "name": "Energy and emissions of training: "
            + ", ".join(parts)
            + (f" ({where})" if where else "")
            + " (greenkfp metering with codecarbon; the schema has no energy field, so the "
            "figures are also performance metrics named 'training ...').",
            "mitigation_strategy": "The deployment gate checks emissions and inference "
            "energy against the policy; compression lowers inference energy; the "
            "sustainability report gives the run's per-step figures with their bounds.",
        }
    ]


def _thresholds_limitation(facts: CardFacts) -> list[dict[str, str]]:
    """Per-group decision thresholds (fairness mitigation) need the sensitive feature."""
    feature = (facts.group_thresholds or {}).get("feature")
    if not feature:
        return []
    return [
        {
            "description": f"Applies a decision threshold per group of {feature} (fairness "
            f"mitigation, group_thresholds.json): the sensitive feature {feature} is needed "
            "at prediction time; rows without it are refused."
        }
    ]


def _documentation(facts: CardFacts) -> str:
    lines = ["Lineage (content hashes; a URI only where it names shared storage):"]
    lines += [
        f"- {name}: {' '.join(x for x in (uri, f'sha256:{digest}' if digest else '') if x) or '-'}"
        for name, uri, digest in lineage_rows(facts)
    ]
    lines += ["", "Deployment gate checks:"]
    lines += [
        f"- {c.name}: {c.metric or c.detail} = {c.value} {c.comparison} {c.threshold}: {c.verdict}"
        for c in facts.blessing.checks
    ]
    lines += ["", "Gate policy (defaults filled in):", json.dumps(facts.blessing.policy)]
    return "\n".join(lines)


def build(facts: CardFacts) -> dict[str, Any]:
    """The card as a dict in the Model Card Toolkit's schema v0.0.2 (not yet validated)."""
    meta = facts.model_metadata
    training = facts.blessing.input_metrics("training") or {}
    features = model_features(meta)
    sensitive = sorted(
        {row[1] for row in fairness_rows(facts.blessing.input_metrics("fairness") or {})}
    )
    data = [
        {
            "name": name,
            "description": " ".join(
                x for x in (detail, f"SHA-256 {digest}." if digest else "") if x
            ),
            **({"link": portable_uri(uri)} if portable_uri(uri) else {}),
        }
        for name, uri, digest, detail in _datasets(facts)
    ]
    if sensitive and data:
        data[-1]["sensitive"] = {"sensitive_data": sensitive}
    version: dict[str, Any] = {"name": str(facts.version)}
    if facts.pushed_at[:10]:
        version["date"] = facts.pushed_at[:10]
    return {
        "schema_version": SCHEMA_VERSION,
        "model_details": {
            "name": facts.model_name,
            "overview": f"{meta.get('task', 'Binary classification')} model "
            f"{facts.model_name}, version {facts.version}, pushed by greenkfp's deploy_model "
            "after its deployment gate approved it.",
            "documentation": _documentation(facts),
            "version": version,
            **(
                {"references": [{"reference": portable_uri(facts.version_uri)}]}
                if portable_uri(facts.version_uri)
                else {}
            ),
        },
        "model_parameters": {
            "model_architecture": " ".join(
                str(x)
                for x in (
                    meta.get("framework", "TensorFlow (tf_keras)"),
                    f"({int(training['param_count'])} parameters)"
                    if _number(training.get("param_count")) is not None
                    else "",
                    f"served as {', '.join(facts.model_files)}" if facts.model_files else "",
                )
                if x
            ),
            "data": data,
            "input_format": "tabular rows with the columns: " + (", ".join(features) or "-"),
            "output_format": "one score in [0, 1] per row: the probability of the positive "
            f"label {meta.get('positive_label', 1)!r} of {meta.get('label_column', 'the label')}",
        },
        "quantitative_analysis": {"performance_metrics": _performance_metrics(facts)},
        "considerations": {
            "users": [
                {
                    "description": "Teams deciding on tabular records like the training "
                    "data, with a person reviewing decisions of legal or similar effect."
                }
            ],
            "use_cases": [{"description": facts.intended_use or DEFAULT_INTENDED_USE}],
            "limitations": [
                {
                    "description": "Evaluated only on the evaluation data and the sensitive "
                    f"features reported ({', '.join(sensitive) or 'none given'}); other "
                    "populations, features or thresholds were not evaluated."
                },
                *_thresholds_limitation(facts),
            ],
            "ethical_considerations": [
                *_energy_consideration(facts),
                {
                    "name": "Decisions with legal or similar effect (e.g. refusing credit).",
                    "mitigation_strategy": HUMAN_OVERSIGHT,
                },
            ],
        },
    }


def _datasets(facts: CardFacts) -> list[tuple[str, str, str, str]]:
    """``(name, URI, SHA-256, description)`` of the data in the lineage, training first."""
    meta = facts.model_metadata
    details = {
        "training data": f"Training data, {meta['n_train']} rows."
        if meta.get("n_train")
        else "Training data.",
        "eval data": "Evaluation data (quality, fairness, canary rows).",
    }
    named = {name: (uri, digest) for name, uri, digest in facts.lineage}
    return [(name, *named[name], detail) for name, detail in details.items() if name in named]


def validate(card: Any) -> None:
    """Checks a card against the vendored schema.

    Raises:
        InputError: Naming the first place that does not validate and why.
    """
    import jsonschema

    validator = jsonschema.Draft7Validator(
        load_schema(), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(card), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(the card)"
        raise InputError(
            f"model_card.json does not validate against the Model Card Toolkit schema "
            f"v{SCHEMA_VERSION} at {where}: {first.message}"
            + (f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else "")
        )


def render(facts: CardFacts) -> str:
    """The validated card as JSON text.

    Raises:
        InputError: The card does not validate (a bug: nothing is pushed then).
    """
    card = build(facts)
    validate(card)
    return json.dumps(card, indent=2, sort_keys=True) + "\n"
