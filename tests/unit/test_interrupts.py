"""Signals during a local run: the running step's group ends, a second Ctrl-C exits at once."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    from greenkfp.pipelines.runners import interrupts

    interrupts.GRACE_S = float(sys.argv[1])
    try:
        with interrupts.interruptible():
            interrupts.run_step_process(["sh", "-c", sys.argv[2]])
    except interrupts.Interrupted as e:
        print("interrupted", e.signal_name, flush=True)
        sys.exit(e.exit_status)
    """
)
STUBBORN_STEP = "trap '' TERM; echo step $$; sleep 60"
POLITE_STEP = "echo step $$; sleep 60"


def _start(grace_s: float, step: str) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(grace_s), step],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = process.stdout.readline()
    assert line.startswith("step "), line + process.stderr.read()
    return process, int(line.split()[1])


def _group_gone(group: int, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_first_signal_ends_the_step_group_and_raises(signum, status):
    process, step = _start(10.0, POLITE_STEP)
    assert os.getpgid(step) == step  # the step leads a group of its own
    started = time.monotonic()
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == status, err
    assert out.strip().splitlines()[-1] == f"interrupted {signal.Signals(signum).name}"
    assert "Traceback" not in err
    assert time.monotonic() - started < 5  # SIGTERM sufficed: no grace spent
    assert _group_gone(step)


def test_a_step_that_ignores_sigterm_is_killed_after_the_grace():
    process, step = _start(0.5, STUBBORN_STEP)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "interrupted SIGINT" in out, err
    assert _group_gone(step)


def test_second_ctrl_c_exits_at_once():
    process, step = _start(60.0, STUBBORN_STEP)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)  # the first one waits for the stubborn step
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert time.monotonic() - started < 3
    assert process.returncode == 130 and "interrupted" not in out, err
    assert _group_gone(step)
