"""Progress lines reach the ``greenkfp run`` console while the step that prints them runs."""

import time

import pytest
from kfp import dsl

from greenkfp.pipelines.runners.local import LOG_FILE, run_locally

pytestmark = pytest.mark.slow

PAUSE_S = 4.0


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def print_sleep_print(pause_s: float):
    """A stand-in for long work: one progress line, a pause, another."""
    import time

    from greenkfp.components._shared.progress import report

    report("first half done")
    print("an ordinary log line", flush=True)
    time.sleep(pause_s)
    report("second half done")


@dsl.pipeline(name="progress-probe")
def slow_step(pause_s: float):
    print_sleep_print(pause_s=pause_s)


@pytest.mark.parametrize("warm", [True, False])
def test_progress_lines_reach_the_console_while_the_step_runs(tmp_path, warm):
    seen: list[tuple[float, str]] = []
    summary = run_locally(
        slow_step,
        {"pause_s": PAUSE_S},
        tmp_path,
        lambda line: seen.append((time.monotonic(), line)),
        warm=warm,
    )
    assert summary.status == "succeeded", summary.error
    lines = [line for _, line in seen]
    assert lines[0].startswith("[1/1] print-sleep-print ...")
    assert lines[1:3] == ["      first half done", "      second half done"]
    assert lines[3].startswith("[1/1] print-sleep-print ok")
    assert "an ordinary log line" not in "\n".join(lines)  # the console stays readable
    first_seen, step_ended = seen[1][0], seen[3][0]
    assert step_ended - first_seen >= PAUSE_S * 0.9, "the first line came only at the step's end"
    log = (tmp_path / LOG_FILE).read_text()
    assert "first half done" in log and "an ordinary log line" in log  # full log as before
