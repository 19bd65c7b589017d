"""Authoring needs only kfp: a clean venv with the newest kfp imports and compiles everything.

The YAML the newest kfp writes is then compared with the pinned kfp's (this venv's):
same pipelines, tasks, parameters and images, and each is a valid pipeline spec for the
newest kfp.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO

pytestmark = pytest.mark.slow

HEAVY_MODULES = [
    "tensorflow",
    "tensorflow_data_validation",
    "tensorflow_model_analysis",
    "tensorflow_model_optimization",
    "tf_keras",
    "codecarbon",
    "apache_beam",
    "pandas",
]

PROBE = textwrap.dedent(
    """
    import json, sys, kfp, yaml
    from pathlib import Path
    from google.protobuf import json_format
    from kfp import components as kfp_components
    from kfp.pipeline_spec import pipeline_spec_pb2
    import greenkfp.components as components
    from greenkfp.pipelines import ALL_PIPELINES
    from greenkfp.pipelines.tools.compiler import compile_all
    assert components.ALL_COMPONENTS
    out = Path(sys.argv[1])
    written = compile_all(out)
    heavy = [m for m in HEAVY if m in sys.modules]
    valid, invalid = {}, {}
    for path in written:
        # A valid spec for this kfp: it loads as a component, and its first YAML document
        # parses strictly (unknown fields fail) into PipelineSpec.
        name = path.relative_to(out).as_posix()
        try:
            loaded = kfp_components.load_component_from_file(str(path))
            spec = pipeline_spec_pb2.PipelineSpec()
            json_format.ParseDict(next(yaml.safe_load_all(path.read_text())), spec)
            valid[name] = [loaded.name, spec.pipeline_info.name]
        except Exception as error:
            invalid[name] = f"{type(error).__name__}: {error}"
    print(json.dumps({
        "kfp": kfp.__version__,
        "written": len(written),
        "pipelines": sorted(ALL_PIPELINES),
        "heavy": heavy,
        "valid": valid,
        "invalid": invalid,
    }))
    """
)


def root_summary(spec: dict) -> dict:
    """What must not depend on the kfp version that compiled a pipeline or component."""
    root = spec["root"]
    tasks = root.get("dag", {}).get("tasks", {})
    parameters = root.get("inputDefinitions", {}).get("parameters", {})
    return {
        "name": spec["pipelineInfo"]["name"],
        "tasks": {name: task["taskInfo"]["name"] for name, task in tasks.items()},
        "parameters": {
            name: (p["parameterType"], p.get("defaultValue"), p.get("isOptional", False))
            for name, p in parameters.items()
        },
        "images": {
            name: executor["container"]["image"]
            for name, executor in spec["deploymentSpec"]["executors"].items()
        },
    }


def _uv() -> str:
    uv = REPO / ".tools" / "bin" / "uv"
    found = str(uv) if uv.exists() else shutil.which("uv")
    assert found, "uv is missing: `make test` bootstraps it into .tools/"
    return found


def test_authoring_only_venv(tmp_path):
    import json

    # Build from a copy so the build leaves nothing in the working tree.
    source = tmp_path / "src"
    source.mkdir()
    for name in ["pyproject.toml", "README.md", "LICENSE", "__init__.py", "__main__.py"]:
        shutil.copy(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ["components", "pipelines"]:
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    venv = tmp_path / "venv"
    uv = _uv()
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, env=env
    )
    python = str(venv / "bin" / "python")
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", python, "--upgrade", "kfp", str(source)],
        check=True,
        env=env,
    )
    probe = f"HEAVY = {HEAVY_MODULES!r}\n" + PROBE
    newest_dir = tmp_path / "newest"
    result = subprocess.run(
        [python, "-c", probe, str(newest_dir)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"newest kfp: {report['kfp']}")
    assert report["heavy"] == []
    assert report["written"] >= 5
    assert not report["invalid"], (
        f"kfp {report['kfp']} cannot load the YAML it compiled: {report['invalid']}"
    )

    # The same files as the pinned kfp writes, with the same pipelines, tasks, display
    # names, root parameters (types and defaults) and executor images.
    import kfp
    import yaml

    from greenkfp.pipelines.tools.compiler import compile_all

    pinned_dir = tmp_path / "pinned"
    pinned = sorted(p.relative_to(pinned_dir).as_posix() for p in compile_all(pinned_dir))
    assert sorted(report["valid"]) == pinned
    assert {f"pipelines/{name}.yaml" for name in report["pipelines"]} <= set(pinned)
    for relative in pinned:
        newest_spec = next(yaml.safe_load_all((newest_dir / relative).read_text()))
        pinned_spec = next(yaml.safe_load_all((pinned_dir / relative).read_text()))
        assert root_summary(newest_spec) == root_summary(pinned_spec), (
            f"{relative}: kfp {report['kfp']} and kfp {kfp.__version__} compile it differently"
        )
        loaded_name, spec_name = report["valid"][relative]
        assert spec_name == pinned_spec["pipelineInfo"]["name"] == loaded_name, relative
    installed = subprocess.run(
        [uv, "pip", "list", "--python", python], capture_output=True, text=True, check=True
    ).stdout
    for module in ["tensorflow", "codecarbon", "pandas", "apache-beam"]:
        assert f"\n{module} " not in installed
