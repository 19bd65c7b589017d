"""The image check's pure parts, the wheel-hash step of the image build, and digest pinning.

`make image-check` itself needs a built image and a container engine; these tests cover
what it hands the container (executor input and command line, read from the compiled YAML)
and that its chain of steps wires every component correctly.
"""

import importlib.util
import json
import re
import sys

import pytest
import yaml
from helpers import REPO, run_cli

from greenkfp.components._shared.image import default_image

BUILD = REPO / "build"


def load_build_script(name):
    spec = importlib.util.spec_from_file_location(f"build_{name}", BUILD / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


check = load_build_script("image_check")
wheels = load_build_script("lock_built_wheels")


def component(name):
    return check.load_component(BUILD / "components" / f"{name}.yaml")


def test_executor_input_from_component_yaml():
    spec = component("import_csv")
    executor_input = check.build_executor_input(
        spec,
        "gs://bucket/import",
        {"data_uri": "/gcs/bucket/data.csv", "label_column": "risk", "required_columns": ["risk"]},
        {},
    )
    values = executor_input["inputs"]["parameterValues"]
    assert values["data_uri"] == "/gcs/bucket/data.csv"
    assert values["required_columns"] == ["risk"]
    # Defaults come from the YAML, integers as integers; optional inputs without a default
    # are left out, so the function's own default applies.
    assert values["split_seed"] == 42 and isinstance(values["split_seed"], int)
    assert values["eval_fraction"] == 0.2 and values["delimiter"] == ","
    assert values["has_header"] is True
    assert "column_names" not in values and "missing_values" not in values
    outputs = executor_input["outputs"]
    train = outputs["artifacts"]["train_dataset"]["artifacts"][0]
    assert train == {
        "name": "train_dataset",
        "type": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"},
        "uri": "gs://bucket/import/train_dataset",
        "metadata": {},
    }
    assert set(outputs["artifacts"]) == {"train_dataset", "eval_dataset", "metrics"}
    assert outputs["outputFile"] == "/gcs/bucket/import/executor_output.json"

    argv = check.container_argv(spec, executor_input)
    assert argv[:2] == ["sh", "-ec"] and "kfp.dsl.executor_main" in argv[2]
    assert argv[-4:-2] == ["--executor_input", json.dumps(executor_input)]
    assert argv[-2:] == ["--function_to_execute", "import_csv"]
    assert json.loads(argv[-3]) == executor_input


def test_executor_input_refuses_wrong_inputs():
    spec = component("train_model")
    dataset = {"name": "d", "type": {}, "uri": "gs://b/d", "metadata": {}}
    artifacts = {"train_dataset": dataset, "eval_dataset": dataset, "schema": dataset}
    ok = check.build_executor_input(spec, "gs://b/t", {"label_column": "y"}, artifacts)
    assert ok["inputs"]["artifacts"]["schema"] == {"artifacts": [dataset]}
    with pytest.raises(ValueError, match="parameter label_column is required"):
        check.build_executor_input(spec, "gs://b/t", {}, artifacts)
    without_schema = {"train_dataset": dataset, "eval_dataset": dataset}  # schema is optional
    optional = check.build_executor_input(spec, "gs://b/t", {"label_column": "y"}, without_schema)
    assert set(optional["inputs"]["artifacts"]) == {"train_dataset", "eval_dataset"}
    with pytest.raises(ValueError, match="artifact eval_dataset is required"):
        check.build_executor_input(spec, "gs://b/t", {"label_column": "y"}, {"schema": dataset})
    with pytest.raises(ValueError, match=r"no input named \['epoch'\]"):
        check.build_executor_input(spec, "gs://b/t", {"label_column": "y", "epoch": 3}, artifacts)
    with pytest.raises(ValueError, match="epochs is NUMBER_INTEGER"):
        check.build_executor_input(
            spec, "gs://b/t", {"label_column": "y", "epochs": "3"}, artifacts
        )
    with pytest.raises(ValueError, match="dropout is NUMBER_DOUBLE"):
        check.build_executor_input(
            spec, "gs://b/t", {"label_column": "y", "dropout": True}, artifacts
        )


def test_placeholders_resolve_as_the_launcher_does():
    executor_input = {
        "inputs": {
            "parameterValues": {"n": 3, "s": "text", "l": ["a"]},
            "artifacts": {"data": {"artifacts": [{"uri": "gs://b/x/data"}]}},
        },
        "outputs": {
            "parameters": {"p": {"outputFile": "/gcs/b/s/parameters/p"}},
            "artifacts": {"model": {"artifacts": [{"uri": "gs://b/s/model"}]}},
            "outputFile": "/gcs/b/s/executor_output.json",
        },
    }
    resolve = check.resolve_placeholders
    assert resolve("{{$.inputs.parameters['n']}}", executor_input) == "3"
    assert resolve("--s={{$.inputs.parameters['s']}}", executor_input) == "--s=text"
    assert resolve("{{$.inputs.parameters['l']}}", executor_input) == '["a"]'
    assert resolve("{{$.inputs.artifacts['data'].path}}", executor_input) == "/gcs/b/x/data"
    assert resolve("{{$.outputs.artifacts['model'].uri}}", executor_input) == "gs://b/s/model"
    assert resolve("{{$.outputs.parameters['p'].output_file}}", executor_input).endswith("/p")
    assert resolve("{{$.outputs.output_file}}", executor_input).endswith("executor_output.json")
    assert json.loads(resolve("{{$}}", executor_input)) == executor_input
    with pytest.raises(ValueError, match="unsupported placeholder"):
        resolve("{{$.pipeline_job_name}}", executor_input)


def test_the_chain_runs_every_component_with_valid_wiring():
    steps = check.check_steps(epochs=2)
    assert {s.component for s in steps} == {p.stem for p in (BUILD / "components").glob("*.yaml")}
    recorded = {}
    for step in steps:
        spec = component(step.component)
        inputs = {}
        for name, (producer, output) in step.artifacts.items():
            assert producer in recorded, f"{step.name} reads {producer} before it runs"
            assert output in recorded[producer], f"{producer} has no output {output}"
            inputs[name] = recorded[producer][output]
        executor_input = check.build_executor_input(
            spec, f"gs://b/{step.name}", step.parameters, inputs
        )
        declared = spec.outputs.get("parameters", {})
        assert set(step.expect) <= set(declared), step.name
        fake_output = {"artifacts": {"metrics": {"artifacts": [{"metadata": {"rows": 800.0}}]}}}
        recorded[step.name] = check.recorded_artifacts(spec, executor_input, fake_output)
    assert recorded["import_csv"]["metrics"]["metadata"] == {"rows": 800.0}
    assert recorded["import_csv"]["train_dataset"]["uri"] == "gs://b/import_csv/train_dataset"
    assert next(s for s in steps if s.name == "train_model").parameters["epochs"] == 2
    assert check.uri_path("gs://b/x") == "/gcs/b/x" and check.uri_path("/data/x") == "/data/x"


LOCK = """\
absl-py==1.4.0 \\
    --hash=sha256:aaa \\
    --hash=sha256:bbb
    # via tensorflow
pyfarmhash==0.3.2 \\
    --hash=sha256:ccc
    # via tensorflow-data-validation
"""


def test_built_wheels_get_their_hash_in_the_installed_lock():
    built = {
        "absl_py-1.4.0-py3-none-any.whl": "bbb",  # from PyPI: the lock already has it
        "pyfarmhash-0.3.2-cp311-cp311-linux_x86_64.whl": "ddd",  # built here
        "greenkfp-0.1.0-py3-none-any.whl": "eee",
    }
    text, added = wheels.add_wheel_hashes(LOCK, built, frozenset({"greenkfp"}))
    assert text == LOCK.replace(
        "    --hash=sha256:ccc\n", "    --hash=sha256:ccc \\\n    --hash=sha256:ddd\n"
    ) + ("greenkfp==0.1.0 \\\n    --hash=sha256:eee\n")
    assert added == [
        "greenkfp-0.1.0-py3-none-any.whl",
        "pyfarmhash-0.3.2-cp311-cp311-linux_x86_64.whl",
    ]
    with pytest.raises(ValueError, match="requests is not in the lock"):
        wheels.add_wheel_hashes(LOCK, {"requests-2.0.0-py3-none-any.whl": "fff"})
    with pytest.raises(ValueError, match="the lock pins pyfarmhash==0.3.2"):
        wheels.add_wheel_hashes(LOCK, {"pyfarmhash-0.4.0-cp311-cp311-linux_x86_64.whl": "fff"})


def test_build_tools_are_pinned_with_the_runtime_locks_versions():
    def pins(path):
        return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", path.read_text(), re.M))

    tools, runtime = pins(BUILD / "requirements-build.lock"), pins(BUILD / "requirements.lock")
    assert {"pip", "setuptools", "wheel"} <= set(tools)
    for name in ("setuptools", "wheel"):
        assert tools[name] == runtime[name], name
    assert "--hash=sha256:" in (BUILD / "requirements-build.lock").read_text()


def test_make_image_defaults_to_the_compiled_image():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(rf"^IMAGE \?= {re.escape(default_image())}$", makefile, re.M)
    assert re.search(r"^BASE_IMAGE \?= python:3.11-slim-bookworm$", makefile, re.M)


def test_compile_pins_an_image_digest(tmp_path):
    pinned = "ghcr.io/greenkfp/greenkfp@sha256:" + "0123456789abcdef" * 4
    result = run_cli("compile", "--output-dir", str(tmp_path), "--image", pinned)
    assert result.returncode == 0, result.stderr
    written = sorted(tmp_path.rglob("*.yaml"))
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        p.relative_to(BUILD).as_posix() for p in BUILD.glob("*/*.yaml")
    }
    for path in written:
        executors = yaml.safe_load(path.read_text())["deploymentSpec"]["executors"]
        assert {e["container"]["image"] for e in executors.values()} == {pinned}, path
