"""What ``greenkfp submit --dry-run`` prints: target, pipeline, every parameter, images."""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from greenkfp.pipelines.runners.kfp_target import KfpTarget, kfp_host
from greenkfp.pipelines.runners.package import Package, parameter_type
from greenkfp.pipelines.runners.vertex_target import VertexTarget


def _default_value(definition: Mapping[str, Any]) -> Any:
    value = definition.get("defaultValue")
    # The IR keeps every number as a double: show an integer parameter's default as int.
    if parameter_type(definition) == "NUMBER_INTEGER" and isinstance(value, float):
        if value.is_integer():
            return int(value)
    return value


def parameter_table(package: Package, values: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """Returns (name, value, "given" | "default" | "none") for every root parameter."""
    rows = []
    for name, definition in sorted(package.parameters.items()):
        if name in values:
            rows.append((name, values[name], "given"))
        elif "defaultValue" in definition:
            rows.append((name, _default_value(definition), "default"))
        else:
            rows.append((name, None, "none"))
    return rows


def describe(
    package: Package,
    values: Mapping[str, Any],
    target: KfpTarget | VertexTarget,
    extra: Sequence[str] = (),
) -> str:
    """Returns what ``--dry-run`` prints: target, pipeline, every parameter, images."""
    lines = []
    if isinstance(target, VertexTarget):
        lines.append(
            f"Target:     Vertex AI Pipelines, project {target.project}, region {target.region}"
        )
        lines.append(f"Root:       {target.pipeline_root}")
        lines.append("Action:     create a pipeline job")
        if target.experiment:
            lines.append(f"Experiment: {target.experiment}")
        run_name = target.run_name or package.name
    else:
        host = kfp_host(target)
        where = host or "from kube config or in-cluster (no --host, no KF_PIPELINES_ENDPOINT)"
        if host and not (target.host or "").startswith("http") and target.host:
            where += " (no scheme given: https, as kfp.Client assumes)"
        lines.append(f"Target:     KFP host {where}")
        if target.namespace:
            lines.append(f"Namespace:  {target.namespace}")
        if target.upload:
            action = (
                f"upload pipeline {package.name!r} (a new pipeline, or a new version of the "
                "pipeline of that name)"
            )
            lines.append(f"Action:     {action}" + (", then create a run" if target.run else ""))
        else:
            lines.append("Action:     create a run from the package")
        if target.run:
            lines.append(f"Experiment: {target.experiment or 'Default'}")
        if target.pipeline_root:
            lines.append(f"Root:       {target.pipeline_root}")
        run_name = target.run_name or f"{package.name} <date time>"
    lines.append(f"Pipeline:   {package.name}")
    lines.append(f"Package:    {package.source}")
    if getattr(target, "run", True):
        lines.append(f"Run name:   {run_name}")
    caching = target.enable_caching
    lines.append(
        "Caching:    "
        + ("compile-time settings" if caching is None else ("on" if caching else "off"))
    )
    if target.service_account:
        lines.append(f"Service account: {target.service_account}")
    lines.append(f"Image(s):   {', '.join(package.images) or '(none)'}")
    rows = parameter_table(package, values)
    lines.append(f"Parameters ({len(rows)}; * = given, others are the pipeline's defaults):")
    for name, value, how in rows:
        shown = "(no value)" if how == "none" else json.dumps(value, default=str)
        lines.append(f"  {'*' if how == 'given' else ' '} {name} = {shown}")
    lines.extend(extra)
    return "\n".join(lines)
