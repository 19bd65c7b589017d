"""Warm local runs: each task forks from a process that imported the runtime stack once."""

import pytest
from kfp import dsl

from greenkfp.pipelines.runners.local import run_locally
from greenkfp.pipelines.runners.warm import SERVER_SCRIPT

pytestmark = pytest.mark.slow


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def probe(word: str, out: dsl.Output[dsl.Artifact]):
    """Records which process started it, and what environment it got."""
    import os

    with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
        out.metadata["parent"] = f.read().decode().replace("\0", " ")
    out.metadata["kfp_runtime"] = os.environ.get("_KFP_RUNTIME", "")
    out.metadata["marker"] = os.environ.get("GREENKFP_TEST_MARKER", "")
    out.metadata["pid"] = os.getpid()
    with open(out.path, "w") as f:
        f.write(word)


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def fail_loudly(word: str):
    """Fails the way a component fails on bad input."""
    raise ValueError(f"bad word {word!r}")


@dsl.pipeline(name="warm-probe")
def two_probes(word: str):
    first = probe(word=word)
    probe(word=word).after(first)


@dsl.pipeline(name="warm-failure")
def probe_then_fail(word: str):
    fail_loudly(word=word).after(probe(word=word))


def probe_metadata(summary) -> list[dict]:
    return [step.outputs["out"]["metadata"] for step in summary.steps]


def running_fork_servers() -> list[str]:
    """This test process's descendants running the checkout's fork server.

    Only descendants: another test process (pytest-xdist) may hold its own server.
    """
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if str(SERVER_SCRIPT) in child.cmdline():
                found.append(str(child.pid))
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("warm", [True, False])
def test_tasks_run_in_their_own_process_with_the_callers_environment(tmp_path, monkeypatch, warm):
    monkeypatch.setenv("GREENKFP_TEST_MARKER", "from-the-caller")
    summary = run_locally(two_probes, {"word": "hello"}, tmp_path, lambda line: None, warm=warm)
    assert summary.status == "succeeded", summary.error
    first, second = probe_metadata(summary)
    for step in (first, second):
        assert ("_warm_server.py" in step["parent"]) is warm, step["parent"]
    assert first["kfp_runtime"] == "true" and first["marker"] == "from-the-caller"
    assert first["pid"] != second["pid"]  # one process per task, warm or not
    assert running_fork_servers() == []


def test_a_failing_task_fails_the_run_with_its_own_error(tmp_path):
    summary = run_locally(probe_then_fail, {"word": "x"}, tmp_path, lambda line: None, warm=True)
    assert summary.status == "failed" and summary.failed_step == "fail-loudly"
    assert "bad word 'x'" in summary.error
    assert [s.status for s in summary.steps] == ["succeeded", "failed"]
    assert running_fork_servers() == []


def test_a_server_that_is_gone_hands_the_task_back_before_running_it(tmp_path):
    from greenkfp.pipelines.runners.warm import WarmServer, executor_arguments

    server = WarmServer(str(tmp_path))
    try:
        assert server.wait_ready()
        server.process.kill()
        server.process.wait()
        command = ["sh", "-ec", "python3 -m kfp.dsl.executor_main", "source", "--x"]
        assert executor_arguments(command) is not None
        assert server.run(command) is None  # nothing ran: kfp.local's own call runs it
    finally:
        server.stop()
    assert running_fork_servers() == []
