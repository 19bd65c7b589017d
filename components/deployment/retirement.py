"""Which versions of a model to retire: by number or by a policy (``greenkfp registry retire``).

A plan is computed from the registry as it is; :meth:`Registry.retire` then moves each
version under the LIVE lock and refuses LIVE again there, so a version that became LIVE
after the plan was made is still never retired. Policies skip LIVE (and say so); asking
for LIVE by number is an error.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from typing import Optional

from greenkfp.components._shared.errors import InputError
from greenkfp.components.deployment.registry import Registry, RegistryError


@dataclass
class RetirementPlan:
    """What a retire would do: ``(version, why)`` to retire, and ``(version, why)`` kept."""

    retire: list[tuple[int, str]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def parse_floor(text: str) -> tuple[str, float]:
    """Parses ``METRIC=VALUE`` (e.g. ``auc=0.7``) of ``--below``."""
    metric, sep, value = text.partition("=")
    try:
        floor = float(value)
    except ValueError:
        floor = math.nan
    if not sep or not metric.strip() or math.isnan(floor):
        raise InputError(f"--below {text!r}: expected METRIC=VALUE, e.g. auc=0.7")
    return metric.strip(), floor


def _age_days(completed_at: str, now: datetime.datetime) -> Optional[float]:
    try:
        when = datetime.datetime.fromisoformat(completed_at)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return (now - when).total_seconds() / 86400


def plan_retirement(
    reg: Registry,
    model: str,
    *,
    version: Optional[int] = None,
    keep_last: Optional[int] = None,
    older_than_days: Optional[float] = None,
    below: Optional[tuple[str, float]] = None,
    now: Optional[datetime.datetime] = None,
) -> RetirementPlan:
    """Plans a retirement by exactly one of: a version, keep the newest N, age, quality floor.

    Raises:
        InputError: Not exactly one criterion, a bad value, the version is LIVE or is not
            a complete version of the model.
    """
    given = [c is not None for c in (version, keep_last, older_than_days, below)]
    if sum(given) != 1:
        raise InputError("give exactly one of --version, --keep-last, --older-than-days, --below")
    versions = reg.versions(model)
    if not versions:
        raise RegistryError(f"{reg.model_uri(model)} has no complete version")
    live = reg.live_version(model, check=False)
    plan = RetirementPlan()
    if version is not None:
        if version not in [v.version for v in versions]:
            raise RegistryError(
                f"{reg.model_uri(model)} has no complete version {version}; versions: "
                f"{[v.version for v in versions]}"
            )
        if version == live:
            raise RegistryError(
                f"version {version} of {reg.model_uri(model)} is LIVE and cannot be retired; "
                "roll LIVE to another version first"
            )
        plan.retire.append((version, "asked by version"))
        return plan
    if keep_last is not None and keep_last < 1:
        raise InputError(f"--keep-last must be at least 1, got {keep_last}")
    if older_than_days is not None and older_than_days < 0:
        raise InputError(f"--older-than-days must be 0 or more, got {older_than_days}")
    newest = {v.version for v in versions[-keep_last:]} if keep_last is not None else set()
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    for info in versions:
        why = ""
        if keep_last is not None:
            why = "" if info.version in newest else f"older than the newest {keep_last}"
        elif older_than_days is not None:
            age = _age_days(info.completed_at, moment)
            if age is None:
                plan.skipped.append((info.version, "no completion time recorded"))
                continue
            why = f"{age:.1f} days old" if age > older_than_days else ""
        elif below is not None:
            metric, floor = below
            try:
                value = (reg.read_metrics(model, info.version).get("candidate") or {}).get(metric)
            except InputError:
                value = None
            if not isinstance(value, (int, float)):
                plan.skipped.append((info.version, f"no {metric} recorded"))
                continue
            why = f"{metric} {value:.4g} < {floor:g}" if value < floor else ""
        if not why:
            continue
        if info.version == live:
            plan.skipped.append((info.version, f"LIVE (would match: {why})"))
        else:
            plan.retire.append((info.version, why))
    return plan
