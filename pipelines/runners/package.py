"""The pipeline to submit and its parameters, checked before anything is sent.

- :func:`compile_pipeline` / :func:`load_package` give a :class:`Package` (the YAML to
  send and its pipeline spec);
- :func:`collect_parameters` merges a params file and ``KEY=VALUE`` assignments,
  :func:`check_parameters` validates them against the spec's root inputDefinitions.

Needs only ``kfp`` (and PyYAML, which kfp brings).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import yaml

from greenkfp.components._shared import yaml_text
from greenkfp.pipelines.runners.submission import SubmitInputError

FALLBACK_PIPELINE = "training_pipeline"
PREFERRED_PIPELINE = "sustainable_training_pipeline"

# Parameter types of the KFP IR (pipeline_spec.proto ParameterType), and the older
# ``type`` names of schemaVersion 2.0.0.
_TYPE_ALIASES = {"INT": "NUMBER_INTEGER", "DOUBLE": "NUMBER_DOUBLE"}
_EXPECTED = {
    "NUMBER_INTEGER": "an integer",
    "NUMBER_DOUBLE": "a number",
    "STRING": "a string",
    "BOOLEAN": "a boolean (true or false)",
    "LIST": "a list",
    "STRUCT": "a mapping",
}


@dataclass
class Package:
    """A compiled pipeline: the file to send and its pipeline spec."""

    path: Path
    spec: dict
    source: str

    @property
    def name(self) -> str:
        """The pipeline name in the spec (``pipelineInfo.name``)."""
        return str(self.spec["pipelineInfo"]["name"])

    @property
    def description(self) -> Optional[str]:
        """The pipeline description in the spec, if any."""
        return self.spec["pipelineInfo"].get("description")

    @property
    def parameters(self) -> dict:
        """The root input parameter definitions, by name."""
        return dict(self.spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {}))

    @property
    def images(self) -> list[str]:
        """Every container image the spec's executors run, sorted."""
        return component_images(self.spec)


def default_pipeline(names: Optional[Sequence[str]] = None) -> str:
    """Returns the pipeline ``greenkfp submit`` sends when none is named."""
    if names is None:
        from greenkfp.pipelines import ALL_PIPELINES

        names = list(ALL_PIPELINES)
    return PREFERRED_PIPELINE if PREFERRED_PIPELINE in names else FALLBACK_PIPELINE


def component_images(spec: Mapping[str, Any]) -> list[str]:
    """Returns the container images of a pipeline spec's executors, sorted."""
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    return sorted(
        {e["container"]["image"] for e in executors.values() if "image" in e.get("container", {})}
    )


def load_package(path: str | os.PathLike, source: Optional[str] = None) -> Package:
    """Reads a compiled pipeline (YAML or JSON) and checks it is a KFP pipeline spec.

    Args:
        path: The compiled file.
        source: How to name it in messages; default the path.

    Returns:
        The package.

    Raises:
        SubmitInputError: The file is missing, not YAML/JSON, or not a pipeline spec.
    """
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    path = Path(path)
    label = f"package {path}" if source is None else source
    if not path.is_file():
        raise SubmitInputError(f"{label} not found")
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise SubmitInputError(f"{label} must be a compiled .yaml, .yml or .json file")
    text = path.read_text()
    broken = _broken_header(text)
    if broken is not None:
        raise SubmitInputError(
            f"{label} is broken at line {broken}: a multi-line string default was written "
            "into the '# Inputs:' header comment unescaped (a kfp 2.13 compiler bug); give "
            "that parameter a one-line default and compile again"
        )
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise SubmitInputError(
            f"{label} is not valid YAML{where}: {getattr(err, 'problem', err)}"
        ) from err
    spec = docs[0] if docs else None
    if not isinstance(spec, dict) or "root" not in spec or "pipelineInfo" not in spec:
        raise SubmitInputError(
            f"{label} is not a compiled KFP pipeline (no root/pipelineInfo); "
            "compile it with `greenkfp compile` or kfp.compiler"
        )
    try:
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as err:
        raise SubmitInputError(f"{label} is not a valid pipeline spec: {err}") from err
    return Package(path=path, spec=spec, source=source or str(path))


def _broken_header(text: str) -> Optional[int]:
    """Returns the line number of a non-comment line in kfp's header comment, if any.

    kfp 2.13 copies parameter defaults into the ``# Inputs:`` header comment as they
    are, so a multi-line string default puts bare lines there (kubeflow/pipelines#10438):
    the file then fails to load, or loads with stray top-level keys.
    """
    lines = text.splitlines()
    if not lines or lines[0] != "# PIPELINE DEFINITION":
        return None
    for number, line in enumerate(lines, start=1):
        if line in ("components:", "deploymentSpec:"):
            return None
        if line.strip() and not line.startswith("#"):
            return number
    return None


def compile_pipeline(
    name: str, output_dir: str | os.PathLike, image: Optional[str] = None
) -> Package:
    """Compiles one of ``ALL_PIPELINES`` to ``output_dir/<name>.yaml`` and loads it.

    Args:
        name: A key of ``greenkfp.pipelines.ALL_PIPELINES``.
        output_dir: Folder for the YAML.
        image: Component image; default ``GREENKFP_IMAGE`` or the release image.

    Returns:
        The package.

    Raises:
        SubmitInputError: ``name`` is not a greenkfp pipeline.
    """
    from greenkfp.pipelines import ALL_PIPELINES
    from greenkfp.pipelines.tools.compiler import compile_to_file

    if name not in ALL_PIPELINES:
        raise SubmitInputError(f"unknown pipeline {name!r}; choose from {sorted(ALL_PIPELINES)}")
    path = compile_to_file(ALL_PIPELINES[name], Path(output_dir) / f"{name}.yaml", image)
    how = f"greenkfp.pipelines.{name} (compiled here)"
    return load_package(path, source=how + (f" with image {image}" if image else ""))


def parameter_type(definition: Mapping[str, Any]) -> str:
    """The IR type of a parameter definition (``NUMBER_INTEGER``, ``STRING``, ...)."""
    kind = definition.get("parameterType") or definition.get("type") or "STRING"
    return _TYPE_ALIASES.get(kind, kind)


def _is_required(definition: Mapping[str, Any]) -> bool:
    return "defaultValue" not in definition and not definition.get("isOptional", False)


def parse_assignment(text: str) -> tuple[str, str]:
    """Splits ``KEY=VALUE`` (the value may hold ``=``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SubmitInputError(f"--param {text!r} is not KEY=VALUE")
    return key.strip(), value


def cli_value(raw: str, parameter_type: Optional[str]) -> Any:
    """Turns the text of ``--param KEY=VALUE`` into a value.

    A string parameter takes the text as it is (so ``positive_label=1`` stays "1");
    every other value is read as a YAML scalar, list or mapping (``epochs=5`` is 5,
    ``sensitive_features='[sex, age]'`` a list); ``1e-3`` is a number.
    """
    if parameter_type == "STRING":
        return raw
    try:
        return yaml_text.safe_load(raw)
    except yaml.YAMLError:
        return raw


def load_params_file(path: str | os.PathLike) -> dict:
    """Reads a YAML or JSON mapping of parameter names to values."""
    path = Path(path)
    if not path.is_file():
        raise SubmitInputError(f"params file {path} not found")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml_text.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise SubmitInputError(f"params file {path} is not valid YAML/JSON: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise SubmitInputError(
            f"params file {path} must hold a mapping of parameter names to values, "
            f"got {type(data).__name__}"
        )
    return data


def collect_parameters(
    package: Package,
    params_file: Optional[str | os.PathLike] = None,
    assignments: Sequence[str] = (),
) -> dict:
    """Merges the params file and ``KEY=VALUE`` assignments; an assignment wins."""
    values = load_params_file(params_file) if params_file else {}
    definitions = package.parameters
    for text in assignments:
        key, raw = parse_assignment(text)
        definition = definitions.get(key)
        values[key] = cli_value(raw, parameter_type(definition) if definition else None)
    return values


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _type_problem(name: str, kind: str, value: Any) -> Optional[str]:
    checks = {
        "NUMBER_INTEGER": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "NUMBER_DOUBLE": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "STRING": lambda v: isinstance(v, str),
        "BOOLEAN": lambda v: isinstance(v, bool),
        "LIST": lambda v: isinstance(v, list),
        "STRUCT": lambda v: isinstance(v, dict),
    }
    check = checks.get(kind)
    if check is None or check(value):
        return None
    message = (
        f"parameter {name!r} expects {_EXPECTED[kind]} ({kind}), "
        f"got {_type_name(value)} {json.dumps(value, default=str)}"
    )
    if kind == "STRING" and not isinstance(value, (list, dict)) and value is not None:
        message += f" (quote it: '{value}')"
    return message


def parameter_problems(package: Package, values: Mapping[str, Any], require_all: bool = True):
    """Returns one message per problem of ``values`` against the spec (empty: valid).

    Unknown names (listing the valid ones), wrong types (naming expected and got; an
    int is fine for a double, a bool is not an int) and, with ``require_all``,
    required parameters (no default, not optional) that are missing.
    """
    definitions = package.parameters
    problems = []
    unknown = sorted(set(values) - set(definitions))
    if unknown:
        problems.append(
            f"pipeline {package.name!r} has no parameter(s) {', '.join(unknown)}; "
            f"valid parameters: {', '.join(sorted(definitions)) or '(none)'}"
        )
    for name in sorted(set(values) & set(definitions)):
        problem = _type_problem(name, parameter_type(definitions[name]), values[name])
        if problem:
            problems.append(problem)
    if require_all:
        missing = [n for n, d in sorted(definitions.items()) if _is_required(d) and n not in values]
        if missing:
            problems.append(
                f"pipeline {package.name!r} needs parameter(s) {', '.join(missing)} "
                "(give them with --param NAME=VALUE or in --params FILE)"
            )
    return problems


def check_parameters(package: Package, values: Mapping[str, Any], require_all: bool = True):
    """Raises :class:`SubmitInputError` listing every problem of ``values``, one a line."""
    problems = parameter_problems(package, values, require_all)
    if problems:
        raise SubmitInputError("\n".join(problems))
