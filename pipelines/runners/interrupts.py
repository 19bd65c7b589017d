"""Ctrl-C and SIGTERM during a local run: end the running step, then stop cleanly.

Each step of a local run runs in a process group of its own (``warm.py`` and
:func:`run_step_process`), which :func:`step_started` records; a terminal's Ctrl-C
therefore reaches only ``greenkfp``, and a scheduler's SIGTERM to ``greenkfp`` is not left
to orphan a step. While :func:`interruptible` is open, the first SIGINT or SIGTERM ends
the running step's group (SIGTERM, then SIGKILL after :data:`GRACE_S`) and raises
:class:`Interrupted` in the main thread, which the runner turns into an ``interrupted``
summary; a second one ends the group at once and exits with ``128 + signal``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Iterator, Optional

#: Seconds a step gets to exit after SIGTERM before it is killed.
GRACE_S = 5.0
HANDLED = (signal.SIGINT, signal.SIGTERM)

_running_group: Optional[int] = None


class Interrupted(BaseException):
    """A run was interrupted by a signal (a BaseException, as KeyboardInterrupt is)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        """``SIGINT`` or ``SIGTERM``."""
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        """The shell's convention: 128 + the signal number (130, 143)."""
        return 128 + self.signum


def step_started(group: int) -> None:
    """Records the process group of the step that now runs."""
    global _running_group
    _running_group = group


def step_ended() -> None:
    """Records that no step runs."""
    global _running_group
    _running_group = None


def _gone(group: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(group, os.WNOHANG)  # reaps our own child (cold steps); others reap theirs
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def end_running_step() -> None:
    """Sends SIGTERM to the running step's group, and SIGKILL if it outlives :data:`GRACE_S`."""
    group = _running_group
    if group is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        while not _gone(group):
            if time.monotonic() > deadline:
                os.killpg(group, signal.SIGKILL)
                break
            time.sleep(0.05)
    step_ended()


def _exit_now(signum: int, frame: object) -> None:
    with contextlib.suppress(ProcessLookupError, TypeError):
        os.killpg(_running_group, signal.SIGKILL)
    os._exit(128 + signum)


def _first(signum: int, frame: object) -> None:
    for handled in HANDLED:
        signal.signal(handled, _exit_now)
    end_running_step()
    raise Interrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """While open, kfp.local's steps run in groups of their own and signals are handled.

    Handles SIGINT and SIGTERM as the module says (main thread only), and routes
    kfp.local's subprocess call to :func:`run_step_process`.
    """
    from kfp.local import subprocess_task_handler

    kfp_run = subprocess_task_handler.run_local_subprocess
    subprocess_task_handler.run_local_subprocess = run_step_process
    previous = {s: signal.signal(s, _first) for s in HANDLED}
    try:
        yield
    finally:
        for handled, handler in previous.items():
            signal.signal(handled, handler)
        subprocess_task_handler.run_local_subprocess = kfp_run
        step_ended()


def run_step_process(full_command: list[str]) -> int:
    """kfp.local's subprocess call, with the step in a process group of its own.

    Prints the step's output line by line, as kfp.local does.
    """
    process = subprocess.Popen(
        full_command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        process_group=0,
    )
    step_started(process.pid)
    try:
        for line in iter(process.stdout.readline, ""):
            print(line, end="")
        print("\n")  # kfp.local's separation after a task's logs
        return process.wait()
    finally:
        step_ended()
        process.stdout.close()
