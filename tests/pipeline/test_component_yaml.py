"""build/components/*.yaml: reusable without greenkfp, with the Python components' interface.

A user who loads the checked-in YAML with ``kfp.components.load_component_from_file``
gets the same inputs, outputs and container as ``from greenkfp.components import ...``,
and can compose the whole end-to-end flow from the files alone.
"""

from pathlib import Path
from typing import Any, List

import pytest
import yaml
from helpers import REPO

from greenkfp.components import ALL_COMPONENTS
from greenkfp.components._shared.image import default_image

COMPONENT_YAML = REPO / "build" / "components"
STALE = "is stale: run `make compile`"

# Task name in the compiled DAG -> (component, display name).
COMPOSED_TASKS = {
    "import-csv": ("import_csv", "Import CSV data"),
    "generate-statistics": ("generate_statistics", "Statistics: train"),
    "generate-statistics-2": ("generate_statistics", "Statistics: eval"),
    "infer-schema": ("infer_schema", "Infer schema"),
    "validate-data": ("validate_data", "Validate eval data"),
    "train-model": ("train_model", "Train model"),
    "compress-model": ("compress_model", "Compress model"),
    "evaluate-fairness": ("evaluate_fairness", "Evaluate fairness"),
    "evaluate-gate": ("evaluate_gate", "Deployment gate"),
    "deploy-model": ("deploy_model", "Deploy model"),
    "sustainability-report": ("sustainability_report", "Sustainability report"),
}


def canonical(type_name: str) -> str:
    from kfp.dsl.types import type_utils

    return type_utils.get_canonical_name_for_outer_generic(type_name)


def interface(component: Any) -> dict:
    """Inputs and outputs as the compiled YAML can express them (List[str] is List)."""
    spec = component.component_spec
    return {
        "inputs": {
            name: (canonical(s.type), s.optional, s.default, s.is_artifact_list)
            for name, s in (spec.inputs or {}).items()
        },
        "outputs": {
            name: (canonical(s.type), s.is_artifact_list)
            for name, s in (spec.outputs or {}).items()
        },
    }


@pytest.fixture(scope="module")
def loaded() -> dict:
    from kfp import components

    return {
        path.stem: components.load_component_from_file(str(path))
        for path in sorted(COMPONENT_YAML.glob("*.yaml"))
    }


def test_every_yaml_file_loads_and_every_component_has_one(loaded):
    assert set(loaded) == set(ALL_COMPONENTS), f"build/components/ {STALE}"
    for name, component in loaded.items():
        assert component.name == ALL_COMPONENTS[name].name


@pytest.mark.parametrize("name", list(ALL_COMPONENTS))
def test_yaml_interface_is_the_python_interface(loaded, name):
    from_yaml = interface(loaded[name])
    from_python = interface(ALL_COMPONENTS[name])
    for kind in ("inputs", "outputs"):
        yaml_side, python_side = from_yaml[kind], from_python[kind]
        assert set(yaml_side) == set(python_side), (
            f"build/components/{name}.yaml {STALE}: {kind} only in Python "
            f"{sorted(set(python_side) - set(yaml_side))}, only in YAML "
            f"{sorted(set(yaml_side) - set(python_side))}"
        )
        for key, value in python_side.items():
            assert yaml_side[key] == value, f"build/components/{name}.yaml {STALE}: {kind}.{key}"


def compose(c: dict) -> Any:
    """The end-to-end flow, built only from the given components, outputs wired by name."""
    from kfp import dsl

    @dsl.pipeline(name="composed-from-yaml", description="Every greenkfp component, chained.")
    def composed(
        data_uri: str,
        sensitive_features: List[str],
        label_column: str = "risk",
        registry_uri: str = "",
        model_name: str = "credit-risk",
    ):
        data = c["import_csv"](data_uri=data_uri, label_column=label_column)
        train_stats = c["generate_statistics"](dataset=data.outputs["train_dataset"])
        eval_stats = c["generate_statistics"](dataset=data.outputs["eval_dataset"])
        schema = c["infer_schema"](statistics=train_stats.outputs["statistics"])
        validation = c["validate_data"](
            statistics=eval_stats.outputs["statistics"],
            schema=schema.outputs["schema"],
            baseline_statistics=train_stats.outputs["statistics"],
        )
        train = c["train_model"](
            train_dataset=data.outputs["train_dataset"],
            eval_dataset=data.outputs["eval_dataset"],
            schema=schema.outputs["schema"],
            label_column=label_column,
        ).after(validation)
        compress = c["compress_model"](
            model=train.outputs["model"],
            train_dataset=data.outputs["train_dataset"],
            eval_dataset=data.outputs["eval_dataset"],
        )
        fairness = c["evaluate_fairness"](
            model=compress.outputs["compressed_model"],
            baseline_model=train.outputs["model"],
            eval_dataset=data.outputs["eval_dataset"],
            label_column=label_column,
            sensitive_features=sensitive_features,
        )
        gate = c["evaluate_gate"](
            training_metrics=train.outputs["metrics"],
            compression_metrics=compress.outputs["metrics"],
            fairness_metrics=fairness.outputs["metrics"],
            registry_uri=registry_uri,
            model_name=model_name,
        )
        deploy = c["deploy_model"](
            model=compress.outputs["compressed_model"],
            blessing=gate.outputs["blessing"],
            eval_dataset=data.outputs["eval_dataset"],
            registry_uri=registry_uri,
            model_name=model_name,
        )
        report = c["sustainability_report"](
            import_metrics=data.outputs["metrics"],
            train_statistics_metrics=train_stats.outputs["metrics"],
            eval_statistics_metrics=eval_stats.outputs["metrics"],
            schema_metrics=schema.outputs["metrics"],
            validation_metrics=validation.outputs["metrics"],
            training_metrics=train.outputs["metrics"],
            compression_metrics=compress.outputs["metrics"],
            fairness_metrics=fairness.outputs["metrics"],
            gate_metrics=gate.outputs["metrics"],
            blessing=gate.outputs["blessing"],
            deployment_metrics=deploy.outputs["metrics"],
            deployment=deploy.outputs["deployment"],
        )
        tasks = [data, train_stats, eval_stats, schema, validation, train, compress]
        tasks += [fairness, gate, deploy, report]
        for task, (_, display_name) in zip(tasks, COMPOSED_TASKS.values()):
            task.set_display_name(display_name)

    return composed


def compile_spec(pipeline: Any, path: Path) -> dict:
    from kfp import compiler

    compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text())


def without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node


def test_yaml_components_compose_into_a_pipeline_that_compiles(loaded, tmp_path):
    from kfp import components

    path = tmp_path / "composed.yaml"
    spec = compile_spec(compose(loaded), path)

    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == set(COMPOSED_TASKS)
    for task_name, (component, display_name) in COMPOSED_TASKS.items():
        task = tasks[task_name]
        assert task["taskInfo"]["name"] == display_name
        assert task["componentRef"]["name"].startswith(f"comp-{component.replace('_', '-')}")

    # Outputs are connected by name: the deploy step takes the gate's blessing and the
    # compressed model; the fairness step compares the compressed model with the trained one.
    deploy = tasks["deploy-model"]["inputs"]["artifacts"]
    assert deploy["blessing"]["taskOutputArtifact"] == {
        "outputArtifactKey": "blessing",
        "producerTask": "evaluate-gate",
    }
    assert deploy["model"]["taskOutputArtifact"]["producerTask"] == "compress-model"
    fairness = tasks["evaluate-fairness"]["inputs"]["artifacts"]
    assert fairness["baseline_model"]["taskOutputArtifact"]["producerTask"] == "train-model"
    assert "validate-data" in tasks["train-model"]["dependentTasks"]
    report_inputs = tasks["sustainability-report"]["inputs"]["artifacts"]
    assert len(report_inputs) == 12

    # Every executor is the one in the component's YAML file: same image, command, args.
    images = set()
    for name, executor in spec["deploymentSpec"]["executors"].items():
        component = name.removeprefix("exec-").rstrip("-0123456789").replace("-", "_")
        built = yaml.safe_load((COMPONENT_YAML / f"{component}.yaml").read_text())
        assert executor == next(iter(built["deploymentSpec"]["executors"].values())), name
        images.add(executor["container"]["image"])
    assert images == {default_image()}

    # The compiled pipeline loads back, and its interface is the pipeline's parameters.
    reloaded = components.load_component_from_file(str(path))
    assert reloaded.name == "composed-from-yaml"
    assert set(reloaded.component_spec.inputs) == {
        "data_uri",
        "sensitive_features",
        "label_column",
        "registry_uri",
        "model_name",
    }
    assert reloaded.component_spec.inputs["label_column"].default == "risk"


def test_yaml_and_python_components_compile_to_the_same_pipeline(loaded, tmp_path):
    from_yaml = compile_spec(compose(loaded), tmp_path / "yaml.yaml")
    from_python = compile_spec(compose(ALL_COMPONENTS), tmp_path / "python.yaml")
    # Only the descriptions differ: kfp keeps the docstring's text on Python components.
    assert without_descriptions(from_yaml) == without_descriptions(from_python), (
        f"build/components/ {STALE}"
    )
