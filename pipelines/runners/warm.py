"""Warm local runs: every step forks from one process that has imported the stack already.

``kfp.local.SubprocessRunner`` starts a fresh interpreter per task, and each pays its
imports again (TensorFlow, TFDV, TFMA, Beam, codecarbon: about 10 s of a 2-core machine
per step, more than most steps' work). :func:`warm_tasks` starts a fork server
(``_warm_server.py``) that imports them once, and routes kfp.local's task commands to it:
each task still runs in its own process, with the same command, arguments, environment and
working directory, so a failing or crashing task fails alone, as before. Commands that are
not lightweight Python components go to kfp.local's own subprocess call.

This changes local runs only; on a cluster every task is its own pod, as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from greenkfp.pipelines.runners import interrupts
from greenkfp.pipelines.runners._warm_server import EXIT_MARKER, PID_MARKER, executor_arguments

SERVER_SCRIPT = Path(__file__).with_name("_warm_server.py")
START_TIMEOUT_S = 300


class WarmServer:
    """A running fork server and the client side of its protocol."""

    def __init__(self, workdir: str) -> None:
        self.socket_path = os.path.join(workdir, "warm.sock")
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), self.socket_path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self) -> bool:
        """Waits until the server listens; False when it died or took too long."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not os.path.exists(self.socket_path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def run(self, full_command: list[str]) -> int | None:
        """Runs one task in a forked child, printing its output line by line.

        Returns:
            The task's exit code; None when the server could not be reached, before
            anything of the task ran.
        """
        request = {"argv": full_command, "env": dict(os.environ), "cwd": os.getcwd()}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            try:
                connection.connect(self.socket_path)
            except OSError:
                return None
            connection.sendall(json.dumps(request).encode() + b"\n")
            try:
                for line in connection.makefile("r", encoding="utf-8", errors="replace"):
                    if line.startswith(PID_MARKER):
                        interrupts.step_started(int(line.split()[-1]))
                    elif line.startswith(EXIT_MARKER):
                        print("\n")  # kfp.local's separation after a task's logs
                        return int(line.split()[-1])
                    else:
                        print(line, end="")
            finally:
                interrupts.step_ended()
        return 1  # the server went away mid-task

    def stop(self) -> None:
        """Asks the server to exit, and makes sure it does."""
        if not os.path.exists(self.socket_path):
            self.process.kill()  # still importing: nothing of it to keep
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as connection:
            connection.connect(self.socket_path)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def warm_tasks() -> Iterator[None]:
    """Routes kfp.local's lightweight-component tasks to a fork server while open."""
    from kfp.local import subprocess_task_handler

    cold_run = subprocess_task_handler.run_local_subprocess
    with tempfile.TemporaryDirectory(prefix="greenkfp-warm-") as workdir:
        server = WarmServer(workdir)

        def run_local_subprocess(full_command: list[str]) -> int:
            code = None
            if executor_arguments(full_command) is not None and server.wait_ready():
                code = server.run(full_command)
            return cold_run(full_command=full_command) if code is None else code

        subprocess_task_handler.run_local_subprocess = run_local_subprocess
        try:
            yield
        finally:
            subprocess_task_handler.run_local_subprocess = cold_run
            server.stop()
