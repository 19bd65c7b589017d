"""Compiled YAML: loads back, uses the right image, and build/ is current."""

from pathlib import Path

import yaml
from helpers import REPO, run_cli

from greenkfp.components import ALL_COMPONENTS
from greenkfp.components._shared.image import default_image
from greenkfp.pipelines import ALL_PIPELINES
from greenkfp.pipelines.tools.compiler import compile_all

BUILD = REPO / "build"


def images_of(path: Path) -> set:
    spec = yaml.safe_load(path.read_text())
    return {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}


def test_compiles_every_pipeline_and_component(tmp_path):
    written = compile_all(tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert names == {f"pipelines/{n}.yaml" for n in ALL_PIPELINES} | {
        f"components/{n}.yaml" for n in ALL_COMPONENTS
    }
    pipeline = yaml.safe_load((tmp_path / "pipelines/data_validation_pipeline.yaml").read_text())
    tasks = pipeline["root"]["dag"]["tasks"]
    assert {t["taskInfo"]["name"] for t in tasks.values()} >= {
        "Import CSV data",
        "Statistics: train",
        "Statistics: eval",
        "Infer schema",
    }
    assert "data_uri" in pipeline["root"]["inputDefinitions"]["parameters"]
    for path in written:
        assert images_of(path) == {default_image()}
        command = " ".join(
            next(iter(yaml.safe_load(path.read_text())["deploymentSpec"]["executors"].values()))[
                "container"
            ]["command"]
        )
        assert "pip install" not in command  # the image carries kfp and greenkfp


def test_checked_in_yaml_is_current(tmp_path):
    compile_all(tmp_path)
    for fresh in sorted(tmp_path.rglob("*.yaml")):
        committed = BUILD / fresh.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing: run `make compile`"
        assert committed.read_text() == fresh.read_text(), (
            f"{committed} is stale: run `make compile`"
        )
    stale = {p.relative_to(BUILD) for p in BUILD.glob("*/*.yaml")} - {
        p.relative_to(tmp_path) for p in tmp_path.rglob("*.yaml")
    }
    assert not stale, f"YAML without a pipeline or component: {stale}"


def test_image_override_by_flag_and_environment(tmp_path):
    result = run_cli("compile", "--output-dir", str(tmp_path / "a"), "--image", "reg.example/x:1")
    assert result.returncode == 0, result.stderr
    for path in (tmp_path / "a").rglob("*.yaml"):
        assert images_of(path) == {"reg.example/x:1"}
    import os
    import subprocess
    import sys

    env = {**os.environ, "GREENKFP_IMAGE": "reg.example/y:2"}
    subprocess.run(
        [sys.executable, "-m", "greenkfp", "compile", "--output-dir", str(tmp_path / "b")],
        env=env,
        check=True,
        capture_output=True,
    )
    for path in (tmp_path / "b").rglob("*.yaml"):
        assert images_of(path) == {"reg.example/y:2"}


def test_loads_back_as_components(tmp_path):
    from kfp import components

    for path in sorted((BUILD / "components").glob("*.yaml")):
        loaded = components.load_component_from_file(str(path))
        assert loaded.name == path.stem.replace("_", "-")


def test_training_task_resources(tmp_path):
    from greenkfp.pipelines import build_training_pipeline
    from greenkfp.pipelines.tools.compiler import compile_to_file

    pipeline = build_training_pipeline(
        cpu_limit="4", memory_limit="16G", accelerator_type="nvidia.com/gpu", accelerator_limit=2
    )
    spec = yaml.safe_load(compile_to_file(pipeline, tmp_path / "p.yaml").read_text())
    executor = spec["deploymentSpec"]["executors"]["exec-train-model"]["container"]
    assert executor["resources"]["cpuLimit"] == 4
    assert executor["resources"]["memoryLimit"] == 16
    accelerator = executor["resources"]["accelerator"]
    assert (accelerator["resourceCount"], accelerator["resourceType"]) == ("2", "nvidia.com/gpu")
    default = yaml.safe_load((BUILD / "pipelines/training_pipeline.yaml").read_text())
    assert (
        "accelerator"
        not in default["deploymentSpec"]["executors"]["exec-train-model"]["container"]["resources"]
    )


def test_sustainable_pipeline_shape():
    spec = yaml.safe_load((BUILD / "pipelines/sustainable_training_pipeline.yaml").read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert len(tasks) == 12
    names = {name: task["taskInfo"]["name"] for name, task in tasks.items()}
    assert names["compress-model"] == "Compress model (prune, quantize, TFLite)"
    assert names["deploy-model"] == "Deploy blessed model"
    # Fairness judges the model that ships, against the uncompressed one.
    fairness = tasks["evaluate-fairness"]["inputs"]["artifacts"]
    assert fairness["model"]["taskOutputArtifact"]["producerTask"] == "compress-model"
    assert fairness["baseline_model"]["taskOutputArtifact"]["producerTask"] == "train-model"
    deploy = tasks["deploy-model"]["inputs"]["artifacts"]
    assert deploy["blessing"]["taskOutputArtifact"]["producerTask"] == "evaluate-gate"
    # The gate judges, and deploy pushes, the model that leaves the mitigation step.
    assert deploy["model"]["taskOutputArtifact"]["producerTask"] == "mitigate-fairness"
    gate = tasks["evaluate-gate"]["inputs"]["artifacts"]
    assert gate["fairness_metrics"]["taskOutputArtifact"]["producerTask"] == "mitigate-fairness"
    mitigation = tasks["mitigate-fairness"]["inputs"]["artifacts"]
    assert mitigation["model"]["taskOutputArtifact"]["producerTask"] == "compress-model"
    # Training reads the same policy the gate gets (mitigation: reweigh happens there).
    for task in ("train-model", "evaluate-gate", "mitigate-fairness"):
        policy = tasks[task]["inputs"]["parameters"]["policy"]
        assert policy["componentInputParameter"] == "policy", task
    # Deterministic steps are cached; the gate, the push and the report never are.
    cached = {n for n, t in tasks.items() if t.get("cachingOptions", {}).get("enableCache")}
    assert cached == set(tasks) - {"evaluate-gate", "deploy-model", "sustainability-report"}
    # Every task asks for CPU and memory.
    for executor in spec["deploymentSpec"]["executors"].values():
        resources = executor["container"]["resources"]
        assert resources["cpuRequest"] >= 1 and resources["memoryRequest"] > 1, executor
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    required = [n for n, p in parameters.items() if not p.get("isOptional")]
    assert required == ["data_uri"]  # runs with the data URI alone


def test_pipeline_graphs_are_current_and_show_every_task():
    from greenkfp.pipelines.tools.graph import render_svg

    for name, pipeline in ALL_PIPELINES.items():
        committed = BUILD / "pipelines" / f"{name}.svg"
        assert committed.exists() and committed.read_text() == render_svg(pipeline), (
            f"{committed} is stale: run `make compile`"
        )
        text = committed.read_text()
        for task in pipeline.pipeline_spec.root.dag.tasks.values():
            assert f">{task.task_info.name.split()[0]}" in text
        assert "<script" not in text and "http://www.w3.org/2000/svg" in text
