"""Submit a compiled pipeline where users run pipelines: a KFP host or Vertex AI Pipelines.

The command line is ``greenkfp submit`` (see ``submit_cli.py``); this module holds the
logic, importable without argparse:

- :func:`compile_pipeline` / :func:`load_package` give a :class:`Package` (the YAML to
  send and its pipeline spec);
- :func:`collect_parameters` merges a params file and ``KEY=VALUE`` assignments,
  :func:`check_parameters` validates them against the spec's root inputDefinitions
  before anything is sent;
- :func:`submit_to_kfp` sends through ``kfp.Client`` (run from the package, or upload a
  pipeline / pipeline version and optionally run it);
- :func:`build_vertex_job` builds the ``aiplatform.PipelineJob`` (no network) and
  :func:`submit_to_vertex` submits it;
- :func:`describe` is what ``--dry-run`` prints.

Bad input raises :class:`SubmitInputError` (exit status 2); a failure while sending
raises :class:`SubmitFailed` (exit status 1). Both carry one line that names the
parameter, file or host at fault.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import urllib.parse
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import yaml

from greenkfp.components._shared import yaml_text

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

# How long one socket operation towards a KFP host may take, and the reachability probe.
KFP_SOCKET_TIMEOUT_S = 60.0
KFP_CONNECT_TIMEOUT_S = 10.0


class SubmitInputError(ValueError):
    """Bad input (exit status 2): the message names the parameter, file or option."""


class SubmitFailed(RuntimeError):
    """Sending failed (exit status 1): the message names the host or project."""


# --- the package -----------------------------------------------------------------------


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


# --- parameters ------------------------------------------------------------------------


def _parameter_type(definition: Mapping[str, Any]) -> str:
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
        values[key] = cli_value(raw, _parameter_type(definition) if definition else None)
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
        problem = _type_problem(name, _parameter_type(definitions[name]), values[name])
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


def _default_value(definition: Mapping[str, Any]) -> Any:
    value = definition.get("defaultValue")
    # The IR keeps every number as a double: show an integer parameter's default as int.
    if _parameter_type(definition) == "NUMBER_INTEGER" and isinstance(value, float):
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


# --- targets ---------------------------------------------------------------------------


@dataclass
class KfpTarget:
    """Where and how to send to a KFP host (every field optional)."""

    host: Optional[str] = None
    namespace: Optional[str] = None
    existing_token: Optional[str] = field(default=None, repr=False)
    experiment: Optional[str] = None
    run_name: Optional[str] = None
    enable_caching: Optional[bool] = None
    pipeline_root: Optional[str] = None
    service_account: Optional[str] = None
    upload: bool = False
    run: bool = True
    version_name: Optional[str] = None


@dataclass
class VertexTarget:
    """Where and how to send to Vertex AI Pipelines."""

    project: Optional[str]
    region: Optional[str]
    pipeline_root: Optional[str]
    service_account: Optional[str] = None
    enable_caching: Optional[bool] = None
    run_name: Optional[str] = None
    experiment: Optional[str] = None
    labels: Optional[dict] = None


@dataclass
class Submitted:
    """What was created: IDs and, where known, the URL to open."""

    target: str
    run_id: Optional[str] = None
    run_url: Optional[str] = None
    pipeline_id: Optional[str] = None
    version_id: Optional[str] = None
    pipeline_url: Optional[str] = None
    new_pipeline: bool = False
    lines: list[str] = field(default_factory=list)


def _stamp() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d %H-%M-%S")


def normalize_host(host: Optional[str]) -> Optional[str]:
    """Returns the host URL as kfp.Client uses it (https:// when no scheme, no trailing /)."""
    if not host:
        return None
    if not host.startswith("http"):
        host = "https://" + host
    return host.rstrip("/")


def kfp_host(target: KfpTarget) -> Optional[str]:
    """The KFP host that will be used: ``--host``, else ``KF_PIPELINES_ENDPOINT``."""
    return normalize_host(target.host or os.environ.get("KF_PIPELINES_ENDPOINT"))


def check_vertex_target(target: VertexTarget) -> None:
    """Raises :class:`SubmitInputError` unless project, region and a gs:// root are given."""
    missing = [
        option
        for option, value in (
            ("--project", target.project),
            ("--region", target.region),
            ("--pipeline-root", target.pipeline_root),
        )
        if not value
    ]
    if missing:
        raise SubmitInputError(f"--vertex needs {', '.join(missing)}")
    if not str(target.pipeline_root).startswith("gs://"):
        raise SubmitInputError(
            f"--pipeline-root must be a gs:// URI for Vertex AI, got {target.pipeline_root!r}"
        )


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


# --- KFP -------------------------------------------------------------------------------


class _CapturedLogs(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _quiet_client(timeout_s: float) -> Iterator[tuple[io.StringIO, _CapturedLogs]]:
    """Captures kfp.Client's prints and logged tracebacks, bounds socket waits."""
    printed = io.StringIO()
    logs = _CapturedLogs()
    root = logging.getLogger()
    root.addHandler(logs)  # also keeps logging's last-resort handler from printing
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
            warnings.simplefilter("ignore")
            yield printed, logs
    finally:
        socket.setdefaulttimeout(previous_timeout)
        root.removeHandler(logs)


def _probe(host: str) -> None:
    """Opens (and closes) a TCP connection to the host; no request is sent."""
    parts = urllib.parse.urlsplit(host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=KFP_CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        if isinstance(err, socket.timeout):
            reason = f"no answer in {KFP_CONNECT_TIMEOUT_S:.0f} s"
        hint = ""
        if parts.hostname in ("localhost", "127.0.0.1", "::1"):
            hint = (
                " (is the port-forward running? e.g. kubectl port-forward -n kubeflow "
                "svc/ml-pipeline-ui 8080:80)"
            )
        raise SubmitFailed(f"cannot reach KFP host {host}: {reason}{hint}") from err


def _error_text(err: BaseException) -> str:
    try:
        from kfp_server_api import ApiException
    except ImportError:  # pragma: no cover - kfp always brings it
        ApiException = ()  # noqa: N806
    if ApiException and isinstance(err, ApiException):
        text = f"HTTP {err.status} {err.reason or ''}".strip()
        body = err.body.decode(errors="replace") if isinstance(err.body, bytes) else err.body
        if body:
            try:
                parsed = json.loads(body)
                body = parsed.get("message") or parsed.get("error") or body
            except (ValueError, AttributeError):
                pass
            text += f": {str(body).strip()[:300]}"
        return text
    # urllib3's MaxRetryError -> NewConnectionError -> "<object>: Failed to ... refused".
    while getattr(err, "reason", None) is not None and isinstance(err.reason, BaseException):
        err = err.reason
    text = re.sub(r"^<[^>]*>: ", "", str(err)) or type(err).__name__
    return text.splitlines()[0] if text else type(err).__name__


def _failure(
    host: Optional[str], err: BaseException, logs: _CapturedLogs, printed: str
) -> SubmitFailed:
    where = f"KFP host {host}" if host else "the KFP host from kube config or in-cluster"
    text = _error_text(err)
    if not host and "Failed to load kube config" in printed:
        text += " (no kube config either: give --host or set KF_PIPELINES_ENDPOINT)"
    if isinstance(err, TimeoutError):  # get_kfp_healthz gave up; say why
        causes = [r.exc_info[1] for r in logs.records if r.exc_info and r.exc_info[1]]
        if causes:
            text = f"health check failed: {_error_text(causes[-1])}"
    return SubmitFailed(f"sending to {where} failed: {text}")


def _find_pipeline_id(client: Any, name: str, namespace: Optional[str]) -> Optional[str]:
    predicate = {"operation": "EQUALS", "key": "display_name", "stringValue": name}
    query = json.dumps({"predicates": [predicate]})
    pipelines = client.list_pipelines(filter=query, namespace=namespace).pipelines or []
    if len(pipelines) > 1:
        raise SubmitFailed(f"{len(pipelines)} pipelines are named {name!r}; names must be unique")
    return pipelines[0].pipeline_id if pipelines else None


def _ui_prefix(host: Optional[str]) -> Optional[str]:
    ui = os.environ.get("KF_PIPELINES_UI_ENDPOINT") or host
    if not ui:
        return None
    return ui if ui.startswith(("http://", "https://")) else "http://" + ui


def make_kfp_client(target: KfpTarget) -> Any:
    """Creates ``kfp.Client`` for the target (it reads kube config when no host is given)."""
    import kfp

    kwargs: dict[str, Any] = {"host": kfp_host(target)}
    if target.namespace:
        kwargs["namespace"] = target.namespace
    if target.existing_token:
        kwargs["existing_token"] = target.existing_token
    return kfp.Client(**kwargs)


def submit_to_kfp(
    package: Package,
    values: Mapping[str, Any],
    target: KfpTarget,
    client_factory: Any = make_kfp_client,
) -> Submitted:
    """Sends the package to a KFP host: a run from the package, or upload (and run).

    Args:
        package: The compiled pipeline.
        values: Parameter values (validated with :func:`check_parameters`).
        target: Host, namespace, experiment, run name, caching and mode.
        client_factory: Makes the client from the target (tests may pass their own).

    Returns:
        The created run's and/or pipeline's IDs and URLs.

    Raises:
        SubmitInputError: Options that do not fit together.
        SubmitFailed: The host is unreachable or refused a request.
    """
    if target.upload and target.run and target.enable_caching is not None:
        raise SubmitInputError(
            "--enable-caching/--no-caching cannot be applied to a run of an uploaded pipeline "
            "version (kfp.Client overrides caching only for runs from a package); drop the "
            "flag, or --upload"
        )
    if not target.upload and not target.run:
        raise SubmitInputError("--no-run only makes sense with --upload")
    host = kfp_host(target)
    if host:
        _probe(host)
    run_name = target.run_name or f"{package.name} {_stamp()}"
    done = Submitted(target=f"KFP host {host}" if host else "KFP host (kube config)")
    with (
        tempfile.TemporaryDirectory() as tmp,
        _quiet_client(KFP_SOCKET_TIMEOUT_S) as (printed, logs),
    ):
        path = package.path
        if path.suffix.lower() not in (".yaml", ".yml"):  # kfp.Client wants a .yaml name
            path = Path(shutil.copy(path, Path(tmp) / "pipeline.yaml"))
        try:
            client = client_factory(target)
            namespace = target.namespace
            if target.upload:
                _upload(client, package, path, target, done)
                if target.run:
                    experiment = client.create_experiment(
                        name=_experiment_name(target), namespace=namespace
                    )
                    run = client.run_pipeline(
                        experiment_id=experiment.experiment_id,
                        job_name=run_name,
                        params=dict(values),
                        pipeline_id=done.pipeline_id,
                        version_id=done.version_id,
                        pipeline_root=target.pipeline_root,
                        service_account=target.service_account,
                    )
                    done.run_id = run.run_id
            else:
                result = client.create_run_from_pipeline_package(
                    pipeline_file=str(path),
                    arguments=dict(values),
                    run_name=run_name,
                    experiment_name=target.experiment,
                    namespace=namespace,
                    pipeline_root=target.pipeline_root,
                    enable_caching=target.enable_caching,
                    service_account=target.service_account,
                )
                done.run_id = result.run_id
        except (SubmitFailed, SubmitInputError):
            raise
        except Exception as err:  # noqa: BLE001 - one clear line instead of a traceback
            raise _failure(host, err, logs, printed.getvalue()) from err
    prefix = _ui_prefix(host)
    if done.pipeline_id:
        kind = "new pipeline" if done.new_pipeline else "new version"
        done.lines.append(
            f"Uploaded pipeline {package.name!r} ({kind}): pipeline ID {done.pipeline_id}, "
            f"version ID {done.version_id}"
        )
        if prefix:
            done.pipeline_url = (
                f"{prefix}/#/pipelines/details/{done.pipeline_id}/version/{done.version_id}"
            )
            done.lines.append(f"Pipeline: {done.pipeline_url}")
    if done.run_id:
        done.lines.append(f"Run {run_name!r} created: run ID {done.run_id}")
        if prefix:
            done.run_url = f"{prefix}/#/runs/details/{done.run_id}"
            done.lines.append(f"Run: {done.run_url}")
    return done


def _experiment_name(target: KfpTarget) -> str:
    # The same order as kfp.Client.create_run_from_pipeline_package.
    name = target.experiment or os.environ.get("KF_PIPELINES_DEFAULT_EXPERIMENT_NAME")
    return os.environ.get("KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME", name) or "Default"


def _upload(client: Any, package: Package, path: Path, target: KfpTarget, done: Submitted):
    from greenkfp import __version__

    existing = _find_pipeline_id(client, package.name, target.namespace)
    if existing is None:
        pipeline = client.upload_pipeline(
            str(path),
            pipeline_name=package.name,
            description=package.description,
            namespace=target.namespace,
        )
        done.pipeline_id, done.new_pipeline = pipeline.pipeline_id, True
        versions = client.list_pipeline_versions(
            pipeline.pipeline_id, page_size=1, sort_by="created_at desc"
        )
        latest = (versions.pipeline_versions or [None])[0]
        done.version_id = latest.pipeline_version_id if latest else None
    else:
        version = client.upload_pipeline_version(
            str(path),
            pipeline_version_name=target.version_name
            or f"{package.name} greenkfp-{__version__} {_stamp()}",
            pipeline_id=existing,
            description=package.description,
        )
        done.pipeline_id, done.version_id = version.pipeline_id, version.pipeline_version_id
    if target.run and not done.version_id:
        raise SubmitFailed(f"the KFP host returned no version of pipeline {done.pipeline_id}")


# --- Vertex AI -------------------------------------------------------------------------


def _import_aiplatform() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # google-api-core's Python-version FutureWarnings
        try:
            from google.cloud import aiplatform
        except ImportError as err:  # greenkfp itself needs only kfp
            raise SubmitInputError(
                "--vertex needs google-cloud-aiplatform: pip install 'greenkfp[vertex]'"
            ) from err
    return aiplatform


def anonymous_credentials() -> Any:
    """Credentials that never call Google (for a dry run or a test)."""
    _import_aiplatform()  # a clear error when the Vertex SDK is missing
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def build_vertex_job(
    package: Package,
    values: Mapping[str, Any],
    target: VertexTarget,
    credentials: Any = None,
) -> Any:
    """Builds the ``aiplatform.PipelineJob`` that :func:`submit_to_vertex` sends.

    Nothing is sent: the constructor reads the local package, and with explicit
    ``credentials`` it does not look up Application Default Credentials either.

    Args:
        package: The compiled pipeline.
        values: Parameter values (validated with :func:`check_parameters`).
        target: Project, region, gs:// pipeline root, caching, run (display) name.
        credentials: ``google.auth`` credentials; default: Application Default
            Credentials (looked up here, which may contact the metadata server on GCP).

    Returns:
        The job; ``job._gca_resource`` is the request body (pipeline spec, runtime
        config with the parameter values and the pipeline root).

    Raises:
        SubmitInputError: Missing project/region/root, or a root that is not gs://.
        SubmitFailed: No Google credentials could be found.
    """
    check_vertex_target(target)
    aiplatform = _import_aiplatform()
    import google.auth.exceptions

    try:
        return aiplatform.PipelineJob(
            display_name=target.run_name or package.name,
            template_path=str(package.path),
            pipeline_root=target.pipeline_root,
            parameter_values=dict(values),
            enable_caching=target.enable_caching,
            labels=target.labels,
            project=target.project,
            location=target.region,
            credentials=credentials,
        )
    except google.auth.exceptions.GoogleAuthError as err:
        raise SubmitFailed(
            f"no Google Cloud credentials for project {target.project}: {err} "
            "(run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS)"
        ) from err
    except ValueError as err:
        raise SubmitInputError(f"Vertex AI refuses the job: {err}") from err


def submit_to_vertex(job: Any, target: VertexTarget) -> Submitted:
    """Submits a job built by :func:`build_vertex_job`; does not wait for it."""
    where = f"Vertex AI (project {target.project}, region {target.region})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            job.submit(service_account=target.service_account, experiment=target.experiment)
        name = job.resource_name
        url = job._dashboard_uri()
    except Exception as err:  # noqa: BLE001 - one clear line instead of a traceback
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SubmitFailed(f"sending to {where} failed: {text}") from err
    return Submitted(
        target=where,
        run_id=name,
        run_url=url,
        lines=[f"Pipeline job created: {name}", f"Run: {url}"],
    )
