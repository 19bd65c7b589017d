"""Steps that finish at once when a continuous training run does not retrain.

kfp.local 2.13 refuses ``dsl.If``; so, as TFX's Pusher reads a blessing, every step after
``decide_retraining`` takes its decision as an optional input and, when the decision is
not to retrain, writes a short "skipped" record to each of its outputs and returns. A
step given no decision runs as always (and on a cluster the ``dsl.If`` variant of the
pipeline does not run the steps at all).
"""

from __future__ import annotations

import json
from html import escape
from typing import Any, Optional, Sequence

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.retrain_decision import RetrainDecision

SKIPPED = "skipped"
"""The ``status`` a skipped step records in its main artifact's metadata."""

SKIPPED_FIGURE = "skipped"
"""The Metrics key a skipped step logs (1.0)."""

SKIPPED_LOG_PREFIX = "greenkfp-skipped: "
"""Starts the one log line a skipped step prints (the local runner reads it)."""


def skip_reason(decision: Optional[Any]) -> str:
    """Why a step skips its work: ``""`` without a decision or when it says to retrain.

    Args:
        decision: The ``decision`` input artifact (``.path``), or None.

    Raises:
        InputError: When the decision file cannot be read as a decision.
    """
    if decision is None:
        return ""
    record = RetrainDecision.read(decision.path)
    if record.retrain:
        return ""
    return "no retraining: " + "; ".join(record.reasons or ["the decision said so"])


def _skipped_text(schema_title: str, reason: str) -> str:
    if schema_title == "system.HTML":
        return (
            '<!doctype html><html><head><meta charset="utf-8"><title>Skipped</title></head>'
            f"<body><h1>Skipped</h1><p>{escape(reason)}</p></body></html>\n"
        )
    if schema_title == "system.Markdown":
        return f"# Skipped\n\n{reason}\n"
    return json.dumps({"status": SKIPPED, "reason": reason}, indent=2) + "\n"


def finish_skipped(
    decision: Optional[Any],
    metrics: Any,
    outputs: Sequence[Any],
    country_iso_code: str = "",
    region: str = "",
) -> bool:
    """Finishes a step at once when the decision is not to retrain.

    Every output in ``outputs`` (the first is the step's main artifact) gets a short
    skipped record (an HTML or Markdown page for reports, JSON otherwise) and
    ``status: skipped`` with the reason in its metadata; ``metrics`` gets ``skipped`` = 1
    and the energy of this little work, metered like every step's.

    Args:
        decision: The step's ``decision`` input, or None.
        metrics: The step's ``Metrics`` output.
        outputs: The step's other output artifacts, main artifact first.
        country_iso_code: Grid country for carbon.
        region: Grid region.

    Returns:
        True when the step was skipped (the wrapper returns at once), else False.
    """
    reason = skip_reason(decision)
    if not reason:
        return False
    from greenkfp.components._shared.metering import metered_step, publish, step_dir

    with metered_step(step_dir(metrics), country_iso_code, region) as energy:
        for artifact in outputs:
            text = _skipped_text(getattr(artifact, "schema_title", ""), reason)
            uri_io.write_bytes(artifact.path, text.encode())
    metadata = {"status": SKIPPED, "skip_reason": reason}
    publish(metrics, energy, outputs[0], {SKIPPED_FIGURE: 1.0}, metadata)
    for artifact in outputs[1:]:
        artifact.metadata.update(metadata)
    print(SKIPPED_LOG_PREFIX + reason, flush=True)
    return True
