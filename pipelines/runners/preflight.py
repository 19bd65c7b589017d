"""The up-front check of a run: every task's parameters, and the data, before any step runs.

A pipeline spec says which component each task runs and where each of its parameters
comes from (a pipeline parameter, a constant, or the component's default). For every task
whose component greenkfp knows, :func:`check_parameters` resolves those values and hands
them to the family's own validator (the same code the step runs on a cluster, which still
checks them there); :func:`check_data` also reads the data, or its first
:data:`SAMPLE_BYTES`, with the import step's own reader and checks the label, the positive
label and the sensitive features against it. ``greenkfp run`` runs both, ``greenkfp
submit`` the first (its data is not here).

Pipelines may import components; the families never import each other.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from greenkfp.components._shared.errors import InputError

#: Read at most this much of a local data file; a larger one is checked on its first rows.
SAMPLE_BYTES = 32 * 1024 * 1024

_PLACEHOLDER = re.compile(r"^\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}$")
_UNKNOWN = object()  # a value known only at run time (another task's output)


class PreflightError(ValueError):
    """A run's arguments would fail a step; the message names the task and the problem."""


@dataclass
class CheckedData:
    """The rows the data checks read.

    Attributes:
        frame: The data (with the eval data appended, when given separately).
        source: What was read, for messages.
        sampled: Only the first :data:`SAMPLE_BYTES` of a file were read.
    """

    frame: Any
    source: str
    sampled: bool = False


def _component_name(reference: str) -> str:
    """``comp-generate-statistics-2`` -> ``generate_statistics``."""
    return re.sub(r"-\d+$", "", reference.removeprefix("comp-")).replace("-", "_")


def _resolve(value: Any, task_values: Mapping[str, Any]) -> Any:
    """Replaces KFP placeholders of the task's own inputs inside a constant."""
    if isinstance(value, list):
        return [_resolve(v, task_values) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, task_values) for k, v in value.items()}
    if isinstance(value, str) and (m := _PLACEHOLDER.match(value)):
        return task_values.get(m.group(1), _UNKNOWN)
    return value


def _contains_unknown(value: Any) -> bool:
    if isinstance(value, list):
        return any(_contains_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    return value is _UNKNOWN


def task_parameters(spec: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, tuple]:
    """Each task's component and the parameter values it would run with.

    Args:
        spec: The pipeline spec as a dict (the compiled YAML's form).
        arguments: The run's arguments; absent ones take the pipeline's defaults.

    Returns:
        Task name -> ``(component name, {input: value})``; inputs fed by other tasks are
        left out.
    """
    root = spec.get("root", {})
    pipeline_values = {
        name: definition["defaultValue"]
        for name, definition in root.get("inputDefinitions", {}).get("parameters", {}).items()
        if "defaultValue" in definition
    }
    pipeline_values.update(arguments)
    found = {}
    for task_name, task in root.get("dag", {}).get("tasks", {}).items():
        reference = task.get("componentRef", {}).get("name", "")
        component = spec.get("components", {}).get(reference, {})
        definitions = component.get("inputDefinitions", {}).get("parameters", {})
        values = {n: d["defaultValue"] for n, d in definitions.items() if "defaultValue" in d}
        bindings = task.get("inputs", {}).get("parameters", {})
        for name, binding in bindings.items():
            if "componentInputParameter" in binding:
                values[name] = pipeline_values.get(binding["componentInputParameter"], _UNKNOWN)
            elif "constant" in binding.get("runtimeValue", {}):
                values[name] = binding["runtimeValue"]["constant"]
            else:
                values[name] = _UNKNOWN
        values = {n: _resolve(v, values) for n, v in values.items()}
        known = {n: v for n, v in values.items() if not _contains_unknown(v)}
        found[task_name] = (_component_name(reference), known)
    return found


def _csv_options(values: Mapping[str, Any]) -> Any:
    from greenkfp.components.data_validation.ingest import CsvOptions

    fields = {f.name for f in dataclasses.fields(CsvOptions)}
    return CsvOptions(**{k: v for k, v in values.items() if k in fields})


def _check_import(values: Mapping[str, Any]) -> None:
    from greenkfp.components.data_validation.ingest import check_eval_fraction

    _csv_options(values)
    if "eval_fraction" in values:
        check_eval_fraction(float(values["eval_fraction"]))


def _check_validation(values: Mapping[str, Any]) -> None:
    from greenkfp.components.data_validation.validation import check_fail_on_choice

    if "fail_on" in values:
        check_fail_on_choice(values["fail_on"])


def _check_training(values: Mapping[str, Any]) -> None:
    from greenkfp.components.training.model import Hyperparameters

    fields = {f.name for f in dataclasses.fields(Hyperparameters)}
    Hyperparameters(**{k: v for k, v in values.items() if k in fields})


def _check_compression(values: Mapping[str, Any]) -> None:
    from greenkfp.components.compression.config import CompressionConfig

    CompressionConfig.from_inputs(values)


def _slice_settings(values: Mapping[str, Any]) -> Any:
    from greenkfp.components.fairness.slicing import SliceSettings

    return SliceSettings.create(
        values.get("sensitive_features") or [],
        feature_buckets=values.get("feature_buckets") or {},
        feature_crosses=values.get("feature_crosses") or [],
        thresholds=values.get("thresholds") or None,
        min_slice_size=values.get("min_slice_size", 20),
    )


def _check_registry(values: Mapping[str, Any]) -> None:
    """The model name, and a local registry's LIVE of that model (it must be readable)."""
    from greenkfp.components._shared.registry_reading import RegistryReader, validate_model_name

    if "model_name" not in values:
        return
    validate_model_name(values["model_name"])
    uri = values.get("registry_uri", "")
    if uri and "://" not in uri and os.path.isdir(uri):
        RegistryReader(uri).live_version(values["model_name"])


def _check_decision(values: Mapping[str, Any]) -> None:
    """The retrain policy and thresholds, and the registry the decision reads."""
    from greenkfp.components.continuous_training.policy import Thresholds, check_policy

    check_policy(values.get("policy", "drift_or_quality_drop"))
    Thresholds.from_inputs(values)
    _check_registry(values)


def _check_gate(values: Mapping[str, Any]) -> None:
    from greenkfp.components.deployment.policy import parse_policy

    if "policy" in values:
        parse_policy(values["policy"])
    _check_registry(values)


def check_given_policy(text: str, source: str) -> None:
    """Refuses a policy a user gave that holds no checks.

    An empty policy would leave the gate with the policy module's minimal defaults
    instead of the pipeline's policy, silently dropping its fairness, energy and latency
    checks; leaving the policy out keeps the pipeline's.

    Raises:
        PreflightError: Naming ``source`` (the file or parameter).
    """
    from greenkfp.components.deployment.policy import load_document

    try:
        empty = not load_document(text)
    except InputError as e:
        raise PreflightError(f"{source}: {e}") from None
    if empty:
        raise PreflightError(
            f"{source} holds no checks; name the checks to apply, or leave it out for the "
            "pipeline's default policy"
        )


#: Component name -> the check of its parameters (each calls its family's own validator).
PARAMETER_CHECKS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "import_csv": _check_import,
    "validate_data": _check_validation,
    "decide_retraining": _check_decision,
    "train_model": _check_training,
    "compress_model": _check_compression,
    "evaluate_fairness": _slice_settings,
    "evaluate_gate": _check_gate,
    "deploy_model": _check_registry,
}


def _in_step_order(tasks: Mapping[str, tuple]) -> list[tuple[str, tuple]]:
    """The tasks in the order of :data:`PARAMETER_CHECKS` (the order they run), others last."""
    order = list(PARAMETER_CHECKS)
    rank = {name: i for i, name in enumerate(order)}
    return sorted(tasks.items(), key=lambda item: (rank.get(item[1][0], len(order)), item[0]))


def check_parameters(spec: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, tuple]:
    """Checks every task's parameters with its component's own validator.

    Returns:
        :func:`task_parameters` of the run.

    Raises:
        PreflightError: Naming the task and the problem.
    """
    tasks = task_parameters(spec, arguments)
    for task_name, (component, values) in _in_step_order(tasks):
        check = PARAMETER_CHECKS.get(component)
        if check is not None:
            try:
                check(values)
            except InputError as e:
                raise PreflightError(f"{task_name}: {e}") from None
            except ImportError:
                pass  # an authoring-only install (kfp alone): the step checks on the cluster
    return tasks


def _read(uri: str, options: Any) -> tuple[Any, bool]:
    """Reads a local CSV with the import step's reader; a large one on its first rows."""
    from greenkfp.components.data_validation.ingest import read_csv

    if os.path.getsize(uri) <= SAMPLE_BYTES:
        return read_csv(uri, options), False
    with open(uri, "rb") as f:
        head = f.read(SAMPLE_BYTES)
    with tempfile.TemporaryDirectory(prefix="greenkfp-preflight-") as workdir:
        sample = os.path.join(workdir, os.path.basename(uri))
        with open(sample, "wb") as f:
            f.write(head[: head.rfind(b"\n") + 1])
        try:
            return read_csv(sample, options), True
        except InputError as e:
            raise InputError(str(e).replace(sample, f"{uri} (first rows)")) from None


def _read_data(values: Mapping[str, Any]) -> Optional[CheckedData]:
    """The import task's data, when its files are local; checks what the import checks."""
    import pandas as pd

    from greenkfp.components.data_validation.ingest import require_columns

    uris = [values.get("data_uri", ""), values.get("eval_data_uri", "")]
    uris = [u for u in uris if u]
    if not uris or any("://" in u for u in uris):
        return None
    options = _csv_options(values)
    frames, sampled = [], False
    for uri in uris:
        frame, cut = _read(uri, options)
        frames.append(frame)
        sampled = sampled or cut
    required = [values.get("label_column", ""), *(values.get("required_columns") or [])]
    require_columns(frames[0], required, uris[0])
    if len(frames) == 2:
        require_columns(frames[1], list(frames[0].columns), uris[1])
        frames[1] = frames[1][list(frames[0].columns)]
    return CheckedData(pd.concat(frames, ignore_index=True), " and ".join(uris), sampled)


def check_data(tasks: Mapping[str, tuple]) -> Optional[CheckedData]:
    """Reads the run's local data as its import step will, and checks labels and slices.

    Args:
        tasks: :func:`check_parameters` of the run.

    Returns:
        What was read; None when the pipeline imports no local file.

    Raises:
        PreflightError: Naming the task, the file or column, and the problem.
    """
    from greenkfp.components._shared.labels import encode_label
    from greenkfp.components.data_validation.ingest import require_columns
    from greenkfp.components.fairness.slicing import slice_columns

    data = None
    for task_name, (component, values) in _in_step_order(tasks):
        try:
            if component == "import_csv":
                data = _read_data(values) or data
            elif data is None or data.sampled or "label_column" not in values:
                continue  # classes and slices of the first rows prove nothing of the rest
            elif component in ("train_model", "evaluate_fairness"):
                label = values["label_column"]
                require_columns(data.frame, [label], data.source)
                encode_label(data.frame[label], values.get("positive_label", "1"))
                if component == "evaluate_fairness":
                    slice_columns(data.frame, _slice_settings(values), label)
        except InputError as e:
            raise PreflightError(f"{task_name}: {e}") from None
    return data


def check_run(spec: Mapping[str, Any], arguments: Mapping[str, Any]) -> str:
    """Checks a local run's parameters and data; returns one line saying what was checked.

    Raises:
        PreflightError: The first problem found.
    """
    tasks = check_parameters(spec, arguments)
    data = check_data(tasks)
    checked = f"{len(tasks)} tasks' parameters"
    if data is not None:
        rows = f"first {len(data.frame)} rows" if data.sampled else f"{len(data.frame)} rows"
        checked += f" and {data.source} ({rows}, {len(data.frame.columns)} columns)"
    return f"Checked {checked}: ok."
