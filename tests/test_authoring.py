"""Authoring needs only kfp: a clean venv with the newest kfp imports and compiles everything."""

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
    import json, sys, tempfile, kfp
    import greenkfp.components as components
    from greenkfp.pipelines import ALL_PIPELINES
    from greenkfp.pipelines.compiler import compile_all
    assert components.ALL_COMPONENTS
    written = compile_all(tempfile.mkdtemp())
    heavy = [m for m in HEAVY if m in sys.modules]
    print(json.dumps({"kfp": kfp.__version__, "written": len(written), "heavy": heavy}))
    """
)


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
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["written"] >= 5
    installed = subprocess.run(
        [uv, "pip", "list", "--python", python], capture_output=True, text=True, check=True
    ).stdout
    for module in ["tensorflow", "codecarbon", "pandas", "apache-beam"]:
        assert f"\n{module} " not in installed
