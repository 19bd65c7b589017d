"""What must always hold about set-up: one lock, used by the image and the tests."""

import re

import tomllib
from helpers import REPO

DESIGN_PINS = {
    "tensorflow": "2.16.2",
    "tf-keras": "2.16.0",
    "tensorflow-model-optimization": "0.8.0",
    "tensorflow-data-validation": "1.16.1",
    "tensorflow-model-analysis": "0.47.1",
    "fairness-indicators": "0.47.0",
    "tfx-bsl": "1.16.1",
    "tensorflow-metadata": "1.16.1",
    "kfp": "2.13.0",
    "codecarbon": "3.3.2",
    "pyarrow": "10.0.1",
    "pandas": "1.5.3",
    "numpy": "1.26.4",
    "apache-beam": "2.72.0",
}


def locked_versions(path):
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==([^\s;\\]+)", path.read_text(), re.M))


def test_lock_has_design_pins_with_hashes():
    lock = REPO / "build" / "requirements.lock"
    versions = locked_versions(lock)
    for name, version in DESIGN_PINS.items():
        assert versions.get(name) == version, name
    assert versions["protobuf"].startswith("4.25.")
    entries = re.split(r"\n(?=[a-z0-9])", lock.read_text().split("\n", 1)[1])
    for entry in entries:
        if "==" in entry:
            assert "--hash=sha256:" in entry, entry.splitlines()[0]


def test_dockerfile_installs_the_test_lock():
    dockerfile = (REPO / "build" / "Dockerfile").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert dockerfile.startswith("#")
    # python:3.11-slim-bookworm unless `--build-arg BASE_IMAGE=...`, in every stage.
    assert re.search(r"^ARG BASE_IMAGE=python:3.11-slim-bookworm$", dockerfile, re.M)
    _, builder, final = re.split(r"^FROM ", dockerfile, flags=re.M)
    assert builder.startswith("${BASE_IMAGE} AS builder\n") and final.startswith("${BASE_IMAGE}\n")
    # The builder fetches exactly the lock, every download checked against its hashes...
    assert "COPY build/requirements.lock /tmp/requirements.lock" in builder
    assert re.search(
        r"pip wheel --require-hashes --no-deps .*\s+-r /tmp/requirements.lock", builder
    )
    # ...and the final stage installs only those wheels, hashes checked, with nothing copied in.
    assert re.search(r"pip\" install .*--no-index .*\s+--require-hashes --no-deps", final)
    copies = re.findall(r"^COPY .*$", final, re.M)
    assert copies == [
        "COPY --from=builder /wheels/SHA256SUMS /usr/local/share/greenkfp/wheels.sha256"
    ], copies  # only the hash list, which keys the install step's cache on the wheels
    assert "g++" not in final
    # pip compiles bytecode at install: every step's process imports compiled TensorFlow
    # (a read-only root file system could not cache it later).
    assert "--no-compile" not in final
    assert "ENV" in final and "TF_USE_LEGACY_KERAS=1" in final
    user = re.findall(r"^USER (\S+)", final, re.M)
    assert user and user[-1] not in ("root", "0")
    # The tests' environment is synced to the very same file.
    assert re.search(r"^LOCKS := build/requirements.lock ", makefile, re.M)
    assert "pip sync" in makefile and "$(LOCKS)" in makefile
    assert re.search(r"pip sync .*--compile-bytecode .*\$\(LOCKS\)", makefile)


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_distribution_metadata():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert (project["name"], project["version"], project["license"]) == (
        "greenkfp",
        "0.1.0",
        "Apache-2.0",
    )
    assert project["dependencies"] == ["kfp>=2.13,<3"]
    assert project["scripts"]["greenkfp"] == "greenkfp.pipelines.cli:main"


def test_environment_carries_compiled_bytecode():
    """Every step is a fresh process: without .pyc files each one recompiles TensorFlow."""
    import importlib.util
    import os

    for module in ("tensorflow", "tensorflow_data_validation", "tensorflow_model_analysis"):
        source = importlib.util.find_spec(module).origin
        cached = importlib.util.cache_from_source(source)
        assert os.path.exists(cached), f"{module} has no compiled bytecode: {cached}"
