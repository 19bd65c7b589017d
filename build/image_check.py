"""Runs every component of build/components/*.yaml in the built image, as KFP runs it.

For each step the check reads the component's YAML, writes the executor input that the KFP
driver would hand the launcher (parameters with their defaults, input artifacts with the
metadata the producing step recorded, output artifacts and parameters), replaces the
placeholders of the YAML's ``command`` and ``args``, and starts the container with exactly
that command: no network, the image's own non-root user, a read-only root file system with a
tmpfs on /tmp, no capabilities. Artifacts live under a work folder mounted at
``/gcs/<bucket>`` with ``gs://<bucket>/...`` URIs, as on Vertex AI Pipelines. Each step's
outputs feed the next, on the embedded German Credit data, from import to the
sustainability report; the first failure stops the check with a non-zero exit.

    python build/image_check.py IMAGE [--engine docker|podman] [--work-dir runs/image-check]

Needs only PyYAML and a container engine on the host (no TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
COMPONENTS = REPO / "build" / "components"
DATA = REPO / "pipelines" / "data" / "german_credit.csv"
BUCKET = "greenkfp-check"
MOUNT = f"/gcs/{BUCKET}"

_PYTHON_TYPES = {
    "STRING": (str,),
    "NUMBER_INTEGER": (int,),
    "NUMBER_DOUBLE": (int, float),
    "BOOLEAN": (bool,),
    "LIST": (list,),
    "STRUCT": (dict,),
}


@dataclass(frozen=True)
class Step:
    """One task of the check: a component, its parameters, and where its artifacts come from."""

    name: str
    component: str
    parameters: dict[str, Any] = field(default_factory=dict)
    #: Input artifact name -> (producing step, that step's output name).
    artifacts: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Output parameter values the step must return (the gate approves, the push happens).
    expect: dict[str, Any] = field(default_factory=dict)


def check_steps(epochs: int) -> list[Step]:
    """The chain the end-to-end pipeline runs, with a short training for speed."""
    label = {"label_column": "risk"}
    return [
        Step(
            "import_csv",
            "import_csv",
            {"data_uri": f"{MOUNT}/data/{DATA.name}", **label, "required_columns": ["risk"]},
        ),
        Step(
            "statistics_train",
            "generate_statistics",
            artifacts={"dataset": ("import_csv", "train_dataset")},
        ),
        Step(
            "statistics_eval",
            "generate_statistics",
            artifacts={"dataset": ("import_csv", "eval_dataset")},
        ),
        Step(
            "decide_retraining",
            "decide_retraining",
            {**label, "model_name": "greenkfp-model"},
            {
                "statistics": ("statistics_train", "statistics"),
                "dataset": ("import_csv", "train_dataset"),
                "eval_dataset": ("import_csv", "eval_dataset"),
            },
            expect={"retrain": True},  # no registry: nothing is live
        ),
        Step(
            "infer_schema",
            "infer_schema",
            {"required_columns": ["risk"]},
            {"statistics": ("statistics_train", "statistics")},
        ),
        Step(
            "validate_data",
            "validate_data",
            artifacts={
                "statistics": ("statistics_eval", "statistics"),
                "schema": ("infer_schema", "schema"),
                "baseline_statistics": ("statistics_train", "statistics"),
            },
        ),
        Step(
            "train_model",
            "train_model",
            {**label, "epochs": epochs},
            {
                "train_dataset": ("import_csv", "train_dataset"),
                "eval_dataset": ("import_csv", "eval_dataset"),
                "schema": ("infer_schema", "schema"),
                "decision": ("decide_retraining", "decision"),
            },
        ),
        Step(
            "compress_model",
            "compress_model",
            {"fine_tune_epochs": 1, "latency_runs": 50},
            {
                "model": ("train_model", "model"),
                "train_dataset": ("import_csv", "train_dataset"),
                "eval_dataset": ("import_csv", "eval_dataset"),
            },
        ),
        Step(
            "evaluate_fairness",
            "evaluate_fairness",
            {
                **label,
                "sensitive_features": ["sex", "age"],
                "feature_buckets": {"age": [25.0, 40.0, 60.0]},
            },
            {
                "model": ("compress_model", "compressed_model"),
                "baseline_model": ("train_model", "model"),
                "eval_dataset": ("import_csv", "eval_dataset"),
            },
        ),
        Step(
            "mitigate_fairness",
            "mitigate_fairness",
            label,
            {
                "model": ("compress_model", "compressed_model"),
                "eval_dataset": ("import_csv", "eval_dataset"),
                "train_dataset": ("import_csv", "train_dataset"),
                "fairness_output": ("evaluate_fairness", "tfma_output"),
                "fairness_metrics": ("evaluate_fairness", "metrics"),
                "trained_model": ("train_model", "model"),
            },
        ),
        Step(
            "evaluate_gate",
            "evaluate_gate",
            artifacts={
                "training_metrics": ("train_model", "metrics"),
                "compression_metrics": ("compress_model", "metrics"),
                "fairness_metrics": ("mitigate_fairness", "metrics"),
            },
            expect={"approved": True},
        ),
        Step(
            "deploy_model",
            "deploy_model",
            {"model_name": "greenkfp-model"},
            {
                "model": ("mitigate_fairness", "mitigated_model"),
                "blessing": ("evaluate_gate", "blessing"),
                "eval_dataset": ("import_csv", "eval_dataset"),
                "train_statistics": ("statistics_train", "statistics"),
                "schema": ("infer_schema", "schema"),
                "train_dataset": ("import_csv", "train_dataset"),
                "decision_metrics": ("decide_retraining", "metrics"),
                "training_metrics": ("train_model", "metrics"),
                "mitigation_metrics": ("mitigate_fairness", "metrics"),
            },
            expect={"deployed": True},
        ),
        Step(
            "sustainability_report",
            "sustainability_report",
            artifacts={
                "import_metrics": ("import_csv", "metrics"),
                "train_statistics_metrics": ("statistics_train", "metrics"),
                "eval_statistics_metrics": ("statistics_eval", "metrics"),
                "schema_metrics": ("infer_schema", "metrics"),
                "validation_metrics": ("validate_data", "metrics"),
                "training_metrics": ("train_model", "metrics"),
                "compression_metrics": ("compress_model", "metrics"),
                "fairness_metrics": ("evaluate_fairness", "metrics"),
                "mitigation_metrics": ("mitigate_fairness", "metrics"),
                "mitigation": ("mitigate_fairness", "mitigation"),
                "gate_metrics": ("evaluate_gate", "metrics"),
                "blessing": ("evaluate_gate", "blessing"),
                "deployment_metrics": ("deploy_model", "metrics"),
                "deployment": ("deploy_model", "deployment"),
            },
        ),
    ]


@dataclass(frozen=True)
class ComponentSpec:
    """What the check needs of a compiled component YAML."""

    name: str
    image: str
    command: list[str]
    args: list[str]
    inputs: dict[str, Any]
    outputs: dict[str, Any]


def load_component(path: Path) -> ComponentSpec:
    """Reads a one-component YAML as ``greenkfp compile`` writes it."""
    spec = yaml.safe_load(path.read_text())
    (component,) = spec["components"].values()
    container = spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
    return ComponentSpec(
        name=path.stem,
        image=container["image"],
        command=list(container.get("command", [])),
        args=list(container.get("args", [])),
        inputs=component.get("inputDefinitions", {}),
        outputs=component.get("outputDefinitions", {}),
    )


def uri_path(uri: str) -> str:
    """The container path of an artifact URI, as kfp's ``Artifact.path`` maps it."""
    return "/gcs/" + uri[len("gs://") :] if uri.startswith("gs://") else uri


def _typed_value(component: str, name: str, parameter_type: str, value: Any) -> Any:
    if parameter_type == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        value = int(value)  # the YAML stores integer defaults as 42.0
    allowed = _PYTHON_TYPES[parameter_type]
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise ValueError(f"{component}: parameter {name} is {parameter_type}, got {value!r}")
    return value


def build_executor_input(
    component: ComponentSpec,
    step_root: str,
    parameters: dict[str, Any],
    artifacts: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Builds the executor input the KFP driver hands a task's launcher.

    Args:
        component: The component.
        step_root: URI of the task's output folder (``gs://bucket/step``).
        parameters: Input parameter values; missing ones take the YAML's default, and
            optional ones without a default are left out, as the driver does.
        artifacts: Input artifact name -> runtime artifact (``name``, ``type``, ``uri``,
            ``metadata``) that the producing task recorded.

    Returns:
        The executor input as JSON-ready data.

    Raises:
        ValueError: An input is unknown, missing or of the wrong type.
    """
    declared_parameters = component.inputs.get("parameters", {})
    declared_artifacts = component.inputs.get("artifacts", {})
    unknown = (set(parameters) - set(declared_parameters)) | (
        set(artifacts) - set(declared_artifacts)
    )
    if unknown:
        raise ValueError(f"{component.name}: no input named {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared_parameters.items():
        if name in parameters:
            value = parameters[name]
        elif "defaultValue" in spec:
            value = spec["defaultValue"]
        elif spec.get("isOptional"):
            continue
        else:
            raise ValueError(f"{component.name}: parameter {name} is required")
        values[name] = _typed_value(component.name, name, spec["parameterType"], value)
    inputs_artifacts = {}
    for name, spec in declared_artifacts.items():
        if name in artifacts:
            inputs_artifacts[name] = {"artifacts": [artifacts[name]]}
        elif not spec.get("isOptional"):
            raise ValueError(f"{component.name}: artifact {name} is required")
    step_path = uri_path(step_root)
    outputs = component.outputs
    return {
        "inputs": {"parameterValues": values, "artifacts": inputs_artifacts},
        "outputs": {
            "parameters": {
                name: {"outputFile": f"{step_path}/parameters/{name}"}
                for name in outputs.get("parameters", {})
            },
            "artifacts": {
                name: {
                    "artifacts": [
                        {
                            "name": name,
                            "type": spec["artifactType"],
                            "uri": f"{step_root}/{name}",
                            "metadata": {},
                        }
                    ]
                }
                for name, spec in outputs.get("artifacts", {}).items()
            },
            "outputFile": f"{step_path}/executor_output.json",
        },
    }


_PLACEHOLDER = re.compile(r"\{\{\$(?P<expr>[^}]*)\}\}")
_REFERENCE = re.compile(
    r"^\.(?P<side>inputs|outputs)\.(?P<kind>parameters|artifacts)\['(?P<name>[^']+)'\]"
    r"(?:\.(?P<field>uri|path|output_file))?$"
)


def _parameter_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def resolve_placeholders(text: str, executor_input: dict[str, Any]) -> str:
    """Replaces the KFP placeholders in one command or args item, as the launcher does.

    Raises:
        ValueError: A placeholder this check does not know; it would run unresolved.
    """

    def resolve(match: re.Match) -> str:
        expr = match.group("expr")
        if expr == "":
            return json.dumps(executor_input)
        if expr == ".outputs.output_file":
            return executor_input["outputs"]["outputFile"]
        ref = _REFERENCE.match(expr)
        if not ref:
            raise ValueError(f"unsupported placeholder {match.group(0)}")
        side, kind, name, part = ref.group("side", "kind", "name", "field")
        if (side, kind) == ("inputs", "parameters") and part is None:
            return _parameter_text(executor_input["inputs"]["parameterValues"][name])
        if (side, kind) == ("outputs", "parameters") and part == "output_file":
            return executor_input["outputs"]["parameters"][name]["outputFile"]
        if kind == "artifacts" and part in ("uri", "path"):
            (artifact,) = executor_input[side]["artifacts"][name]["artifacts"]
            return artifact["uri"] if part == "uri" else uri_path(artifact["uri"])
        raise ValueError(f"unsupported placeholder {match.group(0)}")

    return _PLACEHOLDER.sub(resolve, text)


def container_argv(component: ComponentSpec, executor_input: dict[str, Any]) -> list[str]:
    """The container's command line: the YAML's ``command`` then ``args``, resolved."""
    return [
        resolve_placeholders(item, executor_input) for item in component.command + component.args
    ]


def recorded_artifacts(
    component: ComponentSpec, executor_input: dict[str, Any], executor_output: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Output artifacts as the launcher records them: the executor's URI and metadata."""
    recorded = {}
    for name, spec in component.outputs.get("artifacts", {}).items():
        (planned,) = executor_input["outputs"]["artifacts"][name]["artifacts"]
        written = executor_output.get("artifacts", {}).get(name, {}).get("artifacts", [{}])[0]
        recorded[name] = {
            "name": name,
            "type": spec["artifactType"],
            "uri": written.get("uri", planned["uri"]),
            "metadata": written.get("metadata", {}),
        }
    return recorded


def default_engine() -> str:
    """Returns docker when its daemon answers, else podman when installed, else docker."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True).returncode == 0:
        return "docker"
    return "podman" if shutil.which("podman") else "docker"


def image_user(engine: str, image: str) -> str:
    """Returns the image's configured user; refuses an image that runs as root."""
    user = subprocess.run(
        [engine, "image", "inspect", "--format", "{{.Config.User}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if user.split(":")[0] in ("", "0", "root"):
        raise SystemExit(
            f"image-check: {image} runs as root (USER {user!r}); it must set a non-root USER"
        )
    return user


def run_step(
    engine: str, image: str, work_dir: Path, component: ComponentSpec, argv: list[str], log: Path
) -> int:
    """Starts the component's container as the launcher would, but locked down; returns rc."""
    command = [
        engine, "run", "--rm",
        "--network", "none",
        "--read-only", "--tmpfs", "/tmp",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--volume", f"{work_dir}:{MOUNT}",
        "--entrypoint", argv[0],
        image, *argv[1:],
    ]  # fmt: skip
    with log.open("w") as out:
        return subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode


#: Figures of a step's Metrics artifact worth a glance on its progress line.
SUMMARY_METRICS = (
    "train_rows",
    "eval_rows",
    "rows",
    "features",
    "anomaly_count",
    "auc",
    "accuracy",
    "size_ratio",
    "checks_failed",
    "energy_kwh_total",
    "energy_kwh",
)


def _summary(executor_output: dict[str, Any], recorded: dict[str, dict[str, Any]]) -> str:
    returned = executor_output.get("parameterValues", {})
    parts = [f"{k}={v}" for k, v in sorted(returned.items()) if k != "pushed_uri"]
    metrics = recorded.get("metrics", {}).get("metadata", {})
    for key in SUMMARY_METRICS:
        if key in metrics and key not in returned:
            value = metrics[key]
            parts.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(parts)


def run_check(image: str, engine: str, work_dir: Path, epochs: int) -> int:
    """Runs every step in the image; returns 0 when all pass, else 1."""
    steps = check_steps(epochs)
    available = {p.stem for p in COMPONENTS.glob("*.yaml")}
    unchecked = available - {s.component for s in steps}
    if unchecked:
        print(f"image-check: no step runs {sorted(unchecked)}", file=sys.stderr)
        return 1
    user = image_user(engine, image)
    if work_dir.exists():
        shutil.rmtree(work_dir)
    (work_dir / "data").mkdir(parents=True)
    shutil.copy(DATA, work_dir / "data" / DATA.name)
    work_dir.chmod(0o777)
    print(f"image-check: {image} with {engine}, as user {user}, no network, read-only root")
    recorded: dict[str, dict[str, dict[str, Any]]] = {}
    started = time.monotonic()
    for number, step in enumerate(steps, 1):
        component = load_component(COMPONENTS / f"{step.component}.yaml")
        step_dir = work_dir / step.name
        step_dir.mkdir(mode=0o777)
        step_dir.chmod(0o777)  # the container's user writes here, whatever the host's umask
        inputs = {name: recorded[src][out] for name, (src, out) in step.artifacts.items()}
        executor_input = build_executor_input(
            component, f"gs://{BUCKET}/{step.name}", step.parameters, inputs
        )
        (step_dir / "executor_input.json").write_text(json.dumps(executor_input, indent=2))
        log = work_dir / f"{step.name}.log"
        print(f"[{number:2}/{len(steps)}] {step.name:<22}", end=" ", flush=True)
        step_start = time.monotonic()
        rc = run_step(
            engine, image, work_dir, component, container_argv(component, executor_input), log
        )
        seconds = time.monotonic() - step_start
        output_file = step_dir / "executor_output.json"
        if rc != 0 or not output_file.exists():
            print(f"FAILED (exit {rc}) after {seconds:.0f} s; log: {log}")
            print("".join(log.read_text(errors="replace").splitlines(True)[-40:]), file=sys.stderr)
            return 1
        executor_output = json.loads(output_file.read_text())
        returned = executor_output.get("parameterValues", {})
        wrong = {k: returned.get(k) for k, v in step.expect.items() if returned.get(k) != v}
        if wrong:
            print(f"FAILED: returned {wrong}, expected {step.expect}; log: {log}")
            return 1
        recorded[step.name] = recorded_artifacts(component, executor_input, executor_output)
        print(f"ok  {seconds:5.0f} s  {_summary(executor_output, recorded[step.name])}")
    print(f"image-check: {len(steps)} steps passed in {time.monotonic() - started:.0f} s; "
          f"outputs under {work_dir}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``image_check.py IMAGE [--engine E] [--work-dir DIR] [--epochs N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--engine", default=os.environ.get("CONTAINER") or None)
    parser.add_argument("--work-dir", type=Path, default=REPO / "runs" / "image-check")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    args = parser.parse_args(argv)
    return run_check(
        args.image, args.engine or default_engine(), args.work_dir.resolve(), args.epochs
    )


if __name__ == "__main__":
    sys.exit(main())
