"""The model registry: layout, atomic publication, crashes at every stage, concurrency."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components.deployment import registry
from greenkfp.components.deployment.registry import Registry, RegistryError, version_layout

MODEL = "credit-risk"


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """A fake train_model output: a SavedModel folder and the Keras file."""
    root = tmp_path / "candidate"
    (root / "saved_model" / "variables").mkdir(parents=True)
    (root / "saved_model" / "saved_model.pb").write_bytes(b"graph" * 100)
    (root / "saved_model" / "variables" / "variables.index").write_bytes(b"index")
    (root / "saved_model" / "variables" / "variables.data-00000-of-00001").write_bytes(b"w" * 999)
    (root / "keras_model.keras").write_bytes(b"keras")
    (root / "model_metadata.json").write_text("{}")
    return root


def push(reg: Registry, model_dir: Path, **kwargs):
    extras = kwargs.pop("extras", lambda version, uri: {"metrics.json": b'{"candidate": {}}'})
    return reg.push(MODEL, version_layout(str(model_dir)), extras, **kwargs)


def visible(base: Path) -> list:
    """What a reader trusts: complete versions."""
    return [v.version for v in Registry(str(base)).versions(MODEL)]


def assert_consistent(base: Path) -> None:
    """Every numbered folder is complete, and LIVE (if any) names one of them."""
    model = base / MODEL
    numbered = sorted(int(p.name) for p in model.iterdir() if p.name.isdigit())
    for version in numbered:
        marker = json.loads((model / str(version) / registry.COMPLETE_MARKER).read_text())
        for rel, digest in marker["files"].items():
            assert (model / str(version) / rel).exists(), (version, rel)
            assert len(digest) == 64
    live = Registry(str(base)).live_version(MODEL)  # raises when LIVE is bad
    assert live is None or live in numbered


def test_layout_lifts_the_saved_model_to_the_version_root(model_dir):
    layout = dict((rel, src) for src, rel in version_layout(str(model_dir)))
    assert set(layout) == {
        "saved_model.pb",
        "variables/variables.index",
        "variables/variables.data-00000-of-00001",
        "keras_model.keras",
        "model_metadata.json",
    }
    (model_dir / "saved_model.pb").write_bytes(b"clash")
    with pytest.raises(InputError, match="saved_model.pb would be written twice"):
        version_layout(str(model_dir))


def test_push_publishes_versions_and_moves_live(tmp_path, model_dir):
    base = tmp_path / "registry"
    reg = Registry(str(base))
    first = push(reg, model_dir)
    second = push(reg, model_dir)
    assert (first.version, second.version) == (1, 2)
    assert second.live and second.previous_live == 1
    assert (base / MODEL / "LIVE").read_text() == "2\n"
    version = base / MODEL / "2"
    # TF Serving reads <base>/<model>/<version>/saved_model.pb.
    assert (version / "saved_model.pb").read_bytes() == b"graph" * 100
    assert (version / "variables" / "variables.index").exists()
    assert (version / "metrics.json").exists()
    marker = json.loads((version / registry.COMPLETE_MARKER).read_text())
    assert marker["version"] == 2 and "saved_model.pb" in marker["files"]
    assert visible(base) == [1, 2]
    assert reg.models() == [MODEL]
    # Nothing left in staging but the lock.
    assert os.listdir(base / MODEL / ".staging") == [registry.LOCK_FILE]
    assert_consistent(base)


def test_verification_failure_leaves_the_registry_as_it_was(tmp_path, model_dir):
    base = tmp_path / "registry"
    reg = Registry(str(base))
    push(reg, model_dir)
    seen = []

    def reject(folder: str) -> None:
        seen.append(sorted(os.listdir(folder)))
        raise RuntimeError("canary mismatch")

    before = sorted(p.name for p in (base / MODEL).iterdir())
    with pytest.raises(RuntimeError, match="canary mismatch"):
        push(reg, model_dir, verify=reject)
    assert "saved_model.pb" in seen[0]  # the verifier saw the written files
    assert sorted(p.name for p in (base / MODEL).iterdir()) == before
    assert os.listdir(base / MODEL / ".staging") == [registry.LOCK_FILE]
    assert reg.live_version(MODEL) == 1
    assert push(reg, model_dir).version == 2  # the number was released


def test_unwritable_registry_is_a_clear_error_and_writes_nothing(tmp_path, model_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    reg = Registry(str(blocker / "registry"))
    with pytest.raises(RegistryError, match="is not writable"):
        push(reg, model_dir)
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("name", ["Credit", "1model", "credit_risk", "", "a" * 64, "../x"])
def test_bad_model_names_are_refused(tmp_path, model_dir, name):
    with pytest.raises(InputError, match="model name"):
        Registry(str(tmp_path)).push(name, version_layout(str(model_dir)))
    assert list(tmp_path.iterdir()) == [model_dir]


def test_live_only_moves_forward_when_a_newer_push_wins(tmp_path, model_dir):
    reg = Registry(str(tmp_path / "registry"))
    inner = []

    def newer_push_meanwhile(folder: str) -> None:
        inner.append(push(reg, model_dir))

    older = push(reg, model_dir, verify=newer_push_meanwhile)
    assert (older.version, inner[0].version) == (1, 2)
    assert inner[0].live and not older.live and older.live_version == 2
    assert reg.live_version(MODEL) == 2
    assert visible(tmp_path / "registry") == [1, 2]


def test_incomplete_and_reserved_numbers_are_invisible_and_never_reused(tmp_path, model_dir):
    base = tmp_path / "registry"
    reg = Registry(str(base))
    push(reg, model_dir)
    (base / MODEL / "7").mkdir()  # e.g. an object-store copy that never got its marker
    (base / MODEL / ".staging" / "9.reserved").write_text("{}")  # a crashed push's number
    assert visible(base) == [1]
    assert push(reg, model_dir).version == 10


def test_rollback(tmp_path, model_dir):
    reg = Registry(str(tmp_path / "registry"))
    with pytest.raises(RegistryError, match="no complete version"):
        reg.rollback(MODEL)
    for _ in range(3):
        push(reg, model_dir)
    assert reg.rollback(MODEL) == (3, 2)
    assert reg.rollback(MODEL) == (2, 1)
    with pytest.raises(RegistryError, match="oldest complete version"):
        reg.rollback(MODEL)
    assert reg.rollback(MODEL, to=3) == (1, 3)
    with pytest.raises(RegistryError, match="no complete version 5"):
        reg.rollback(MODEL, to=5)
    assert reg.live_version(MODEL) == 3
    assert visible(tmp_path / "registry") == [1, 2, 3]  # versions are never deleted
    # A push after a rollback goes live: LIVE only refuses to go back on a push.
    reg.rollback(MODEL, to=1)
    assert push(reg, model_dir).live


def test_bad_live_file_is_reported(tmp_path, model_dir):
    base = tmp_path / "registry"
    reg = Registry(str(base))
    push(reg, model_dir)
    (base / MODEL / "LIVE").write_text("garbage")
    with pytest.raises(RegistryError, match="not a version number"):
        reg.live_version(MODEL)
    (base / MODEL / "LIVE").write_text("4\n")
    with pytest.raises(RegistryError, match="not complete"):
        reg.live_version(MODEL)


# ----------------------------------------------------------------------------- processes

PUSH_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from greenkfp.components.deployment.registry import Registry, version_layout

    base, model_dir, go = sys.argv[1:4]
    while go and not os.path.exists(go):
        time.sleep(0.005)
    def slow_verify(folder):
        time.sleep(float(os.environ.get("VERIFY_SECONDS", "0")))
    reg = Registry(base)
    result = reg.push(
        "credit-risk",
        version_layout(model_dir),
        lambda version, uri: {"metrics.json": json.dumps({"version": version}).encode()},
        verify=slow_verify,
    )
    print(json.dumps({"version": result.version, "live": result.live}))
    """
)


def start_push(base: Path, model_dir: Path, go: str = "", **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", PUSH_SCRIPT, str(base), str(model_dir), go],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_push(base: Path, model_dir: Path, **env) -> subprocess.CompletedProcess:
    proc = start_push(base, model_dir, **env)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("stage", registry.STAGES)
def test_sigkill_at_every_stage_leaves_the_registry_consistent(tmp_path, model_dir, stage):
    base = tmp_path / "registry"
    assert run_push(base, model_dir).returncode == 0  # version 1, LIVE 1

    crashed = run_push(base, model_dir, **{registry.CRASH_ENV: stage})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert_push_stopped_cleanly(base, model_dir, stage)


def assert_push_stopped_cleanly(base: Path, model_dir: Path, stage: str) -> None:
    """A push stopped at ``stage`` left the registry consistent, and the next one works."""
    assert_consistent(base)
    published = registry.STAGES.index(stage) >= registry.STAGES.index("published")
    assert visible(base) == ([1, 2] if published else [1])
    assert Registry(str(base)).live_version(MODEL) == (2 if stage == "live" else 1)

    after = run_push(base, model_dir)
    assert after.returncode == 0, after.stderr
    result = json.loads(after.stdout)
    assert result["live"] and result["version"] > 1
    assert Registry(str(base)).live_version(MODEL) == result["version"]
    assert_consistent(base)
    assert visible(base)[-1] == result["version"]


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from greenkfp.components.deployment import registry, registry_layout

    stage, handled = sys.argv[4], sys.argv[5] == "handled"
    if handled:  # as codecarbon's lock does inside every metered step
        def leave(signum, frame):
            raise SystemExit(1)
        signal.signal(signal.SIGTERM, leave)
    def sigterm_at(reached):
        if reached == stage:
            os.kill(os.getpid(), signal.SIGTERM)
    registry.crash_point = registry_layout.crash_point = sigterm_at
    sys.argv = sys.argv[:4]
    """
)


@pytest.mark.parametrize("handled", ["default", "handled"])
@pytest.mark.parametrize("stage", registry.STAGES)
def test_sigterm_at_every_stage_leaves_the_registry_consistent(tmp_path, model_dir, stage, handled):
    """Pod eviction mid-push: with SIGTERM's default action, or raising SystemExit."""
    base = tmp_path / "registry"
    assert run_push(base, model_dir).returncode == 0  # version 1, LIVE 1

    terminated = subprocess.run(
        [sys.executable, "-c", SIGTERM_SCRIPT + PUSH_SCRIPT, str(base), str(model_dir), ""]
        + [stage, handled],
        capture_output=True,
        text=True,
        timeout=60,
    )
    expected = 1 if handled == "handled" else -signal.SIGTERM
    assert terminated.returncode == expected, terminated.stderr
    assert_push_stopped_cleanly(base, model_dir, stage)


def test_concurrent_pushes_get_distinct_versions(tmp_path, model_dir):
    base = tmp_path / "registry"
    go = tmp_path / "go"
    procs = [start_push(base, model_dir, str(go), VERIFY_SECONDS="0.2") for _ in range(3)]
    time.sleep(0.3)  # let all three start and wait at the line
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    versions = sorted(r["version"] for r in results)
    assert versions == [1, 2, 3]
    assert visible(base) == [1, 2, 3]
    # LIVE ends on the newest version, whatever order the pushes finished in.
    assert Registry(str(base)).live_version(MODEL) == 3
    assert_consistent(base)
    for version in versions:
        recorded = json.loads((base / MODEL / str(version) / "metrics.json").read_text())
        assert recorded["version"] == version


# ----------------------------------------------------------------------------- object stores


@pytest.mark.slow
def test_object_store_path_publishes_by_marker(model_dir):
    """ram:// goes through tf.io.gfile like gs://: copy in place, marker last, LIVE one write."""
    import uuid

    base = f"ram://registry-{uuid.uuid4().hex}"
    reg = Registry(base)
    assert not reg.local
    seen = []
    first = push(reg, model_dir, verify=lambda folder: seen.append(sorted(os.listdir(folder))))
    assert first.version == 1 and first.live
    assert "saved_model.pb" in seen[0]  # verified on a local download of the written files
    with pytest.raises(RuntimeError):
        push(reg, model_dir, verify=lambda folder: (_ for _ in ()).throw(RuntimeError("no")))
    assert [v.version for v in reg.versions(MODEL)] == [1]
    assert not uri_io.exists(f"{base}/{MODEL}/2")  # the failed copy was removed
    second = push(reg, model_dir)
    assert second.version == 2 and reg.live_version(MODEL) == 2
    assert reg.read_metrics(MODEL, 2) == {"candidate": {}}
    assert reg.rollback(MODEL) == (2, 1)
    # retire on an object store: the marker moves to .retired/, the number is not reused
    from greenkfp.components.deployment import audit

    with pytest.raises(RegistryError, match="is LIVE"):
        reg.retire(MODEL, 1)
    reg.retire(MODEL, 2, reason="object store")
    assert [v.version for v in reg.versions(MODEL)] == [1] and reg.retired(MODEL) == [2]
    assert push(reg, model_dir).version == 3
    check = audit.verify(reg.model_uri(MODEL))
    assert check.ok
    assert [e["action"] for e in check.entries] == ["push", "push", "rollback", "retire", "push"]
