"""The Hugging Face style model card (``README.md``) pushed with every version.

YAML front matter as the Hub reads it (``co2_eq_emissions`` with ``emissions`` in grams,
``source``, ``training_type``, ``geographical_location``, ``hardware_used``; ``metrics``
and a ``model-index`` with the candidate's figures), then a short body: portable lineage
(content hashes, the image, the gate's policy and checks; a URI only when it names
shared storage, never a path that existed inside one run) and a section mapping the card
to the EU AI Act's technical documentation items. ``model_card.md`` stays the full card.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Optional

from greenkfp.components._shared.step_keys import BASELINE, DELTA, split_role
from greenkfp.components.deployment.model_card import (
    DEFAULT_INTENDED_USE,
    EU_AI_ACT_ITEMS,
    HUMAN_OVERSIGHT,
    RUN_LOCAL,
    SHARED_SCHEMES,
    CardFacts,
    fairness_rows,
    lineage_rows,
    model_features,
    portable_uri,
)

__all__ = ["SHARED_SCHEMES", "front_matter", "portable_uri", "render"]

EMISSIONS_KEY = "emissions_kg_co2eq"
ENERGY_KEY = "energy_kwh"
NOT_RECORDED = "not recorded"


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def front_matter(facts: CardFacts, *, location: str = "", hardware: str = "") -> dict[str, Any]:
    """The card's YAML metadata as a dict (``co2_eq_emissions``, metrics, model-index)."""
    training = facts.blessing.input_metrics("training") or {}
    emissions_kg = _number(training.get(EMISSIONS_KEY))
    co2: dict[str, Any] = {
        "emissions": round(emissions_kg * 1000, 6) if emissions_kg is not None else None,
        "source": "greenkfp metering (codecarbon, RAPL/NVML or TDP estimate) of train_model"
        if emissions_kg is not None
        else NOT_RECORDED,
        "training_type": "pre-training",
        "geographical_location": location or facts.location or NOT_RECORDED,
        "hardware_used": hardware or facts.hardware or NOT_RECORDED,
    }
    metrics = {}
    for name, info in facts.blessing.candidate_metrics.items():
        value = _number(info.get("value"))
        if value is not None and split_role(name)[0] not in (BASELINE, DELTA):
            metrics[name] = value
    return {
        "license": "other",
        "library_name": "tensorflow" if "saved_model.pb" in facts.model_files else "tflite",
        "tags": ["tabular-classification", "greenkfp", "kubeflow-pipelines"],
        "pipeline_tag": "tabular-classification",
        "co2_eq_emissions": co2,
        "metrics": sorted(metrics),
        "model-index": [
            {
                "name": f"{facts.model_name}-v{facts.version}",
                "results": [
                    {
                        "task": {"type": "tabular-classification"},
                        "dataset": {"name": "evaluation data", "type": "tabular"},
                        "metrics": [
                            {"type": name, "value": value}
                            for name, value in sorted(metrics.items())
                        ],
                    }
                ],
            }
        ],
    }


def render(facts: CardFacts, *, image: str = "", location: str = "", hardware: str = "") -> str:
    """Returns the card: YAML front matter, then Markdown.

    ``image``, ``location`` and ``hardware`` override the facts' own when given.
    """
    import dataclasses

    import yaml

    if image:
        facts = dataclasses.replace(facts, image=image)

    matter = front_matter(facts, location=location, hardware=hardware)
    out = ["---", yaml.safe_dump(matter, sort_keys=False).rstrip(), "---", ""]
    out += [f"# {facts.model_name}, version {facts.version}", ""]
    out += ["## Intended use", "", facts.intended_use or DEFAULT_INTENDED_USE, ""]
    meta = facts.model_metadata
    out += ["## Data", ""]
    out += [
        f"- label column: {meta.get('label_column', NOT_RECORDED)}",
        f"- features: {', '.join(model_features(meta)) or NOT_RECORDED}",
        f"- training rows: {meta.get('n_train', NOT_RECORDED)}",
        "",
    ]
    out += ["## Metrics", ""]
    out += [f"- {row['type']}: {_fmt(row['value'])}" for row in _metrics(matter)] or ["- none"]
    out += ["", "## Fairness", ""]
    fairness = facts.blessing.input_metrics("fairness")
    rows = fairness_rows(fairness or {})
    out += [
        f"- {metric} gap on {feature} (threshold {threshold}): {_fmt(gap)}"
        for metric, feature, threshold, gap, _ in rows
    ] or ["- no fairness evaluation was given to the gate"]
    out += ["", "## Energy", ""]
    co2 = matter["co2_eq_emissions"]
    training = facts.blessing.input_metrics("training") or {}
    out += [
        f"- training energy: {_fmt(training.get(ENERGY_KEY))} kWh",
        f"- training emissions: {co2['emissions']} g CO2eq ({co2['source']})",
        f"- hardware: {co2['hardware_used']}",
        f"- grid: {co2['geographical_location']}",
        "",
    ]
    out += ["## Feature attributions", ""]
    out += [
        f"- {feature}: AUC drop {drop:.4g} when shuffled" for feature, drop in facts.top_features
    ] or ["- not computed"]
    out += ["", "## Deployment gate", ""]
    out += [
        f"- {c.name}: {c.metric or c.detail} = {_fmt(c.value)} "
        f"{c.comparison} {_fmt(c.threshold)}: {c.verdict}"
        for c in facts.blessing.checks
    ] + [""]
    out += ["## Human oversight", "", HUMAN_OVERSIGHT, ""]
    out += ["## Lineage", "", "| input | URI | SHA-256 |", "|---|---|---|"]
    out += [f"| {n} | {u or RUN_LOCAL} | {h or '–'} |" for n, u, h in lineage_rows(facts)]
    out += ["", "Gate policy (defaults filled in):", "", "```json"]
    out += [json.dumps(facts.blessing.policy, indent=2, sort_keys=True), "```"]
    out += ["", "## EU AI Act technical documentation", ""]
    out += [
        "Where this card answers each item (a map for reviewers; not legal advice).",
        "",
        "| item | AI Act reference | section of this card |",
        "|---|---|---|",
    ]
    out += [f"| {item} | {ref} | {where} |" for item, ref, _, where in EU_AI_ACT_ITEMS]
    return "\n".join(out) + "\n"


def _fmt(value: Any) -> str:
    number = _number(value)
    if number is not None:
        return f"{number:.4g}"
    return NOT_RECORDED if value is None else str(value)


def _metrics(matter: Mapping[str, Any]) -> list[dict[str, Any]]:
    return matter["model-index"][0]["results"][0]["metrics"]
