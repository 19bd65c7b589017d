"""A fork server for local runs: imports the runtime stack once, then forks one child per task.

Started by :mod:`greenkfp.pipelines.runners.warm` as a script (``python _warm_server.py
SOCKET``), never imported: it must import nothing of kfp's authoring side, since a task runs
with ``_KFP_RUNTIME=true`` as in the component image. Standard library only, apart from
the modules it preloads.

Protocol, one Unix socket connection per task: the client sends one JSON line
``{"argv": [...], "env": {...}, "cwd": "..."}``; the server forks; the child runs the
task in a process group of its own, first sending ``PID_MARKER <pid>`` on a line of its
own (the group to end on an interrupt), then its standard output and error on the
connection; when it has exited, the server sends ``EXIT_MARKER <code>`` on a line of its
own and closes the connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import select
import socket
import sys
import tempfile
import traceback

EXIT_MARKER = "\x00greenkfp-exit"
PID_MARKER = "\x00greenkfp-pid"
EXECUTOR_MODULE = "kfp.dsl.executor_main"

# What the steps' work imports: pandas and pyarrow (every step), TensorFlow and tf_keras
# (training, compression, predictions), TFDV (statistics, schema, validation), TFMA with
# Beam (fairness), codecarbon (every step's meter).
PRELOAD = (
    "pandas",
    "pyarrow",
    "tensorflow",
    "tf_keras",
    "tensorflow_model_optimization",
    "tensorflow_data_validation",
    "tensorflow_model_analysis",
    "apache_beam",
    "codecarbon",
    "kfp.dsl.executor_main",
)


def executor_arguments(argv: list[str]) -> tuple[str, list[str]] | None:
    """The component source and executor arguments of a lightweight component's command.

    KFP runs ``sh -ec SCRIPT SOURCE ARGS...``, where SCRIPT writes SOURCE to a file and runs
    ``python3 -m kfp.dsl.executor_main --component_module_path FILE ARGS...``; anything
    else is not ours to run and gives ``None``.
    """
    if len(argv) < 4 or argv[0] != "sh" or not argv[1].startswith("-"):
        return None
    script = argv[2]
    if EXECUTOR_MODULE not in script or "pip install" in script:
        return None
    return argv[3], argv[4:]


def run_task(source: str, args: list[str]) -> int:
    """Runs one task in this (forked) process as the component's command would."""
    os.environ["_KFP_RUNTIME"] = "true"
    module_path = os.path.join(tempfile.mkdtemp(), "ephemeral_component.py")
    with open(module_path, "w") as f:
        f.write(source)
    sys.argv = [EXECUTOR_MODULE, "--component_module_path", module_path, *args]
    try:
        runpy.run_module(EXECUTOR_MODULE, run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - a task's failure is its exit code, as in a process
        traceback.print_exc()
        return 1


def _child(connection: socket.socket, request: dict) -> None:
    code = 1
    try:
        os.setpgid(0, 0)  # the step's own group: an interrupt ends it and all it started
        connection.sendall(f"{PID_MARKER} {os.getpid()}\n".encode())
        os.dup2(connection.fileno(), 1)
        os.dup2(connection.fileno(), 2)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        source, args = executor_arguments(request["argv"]) or (None, None)
        if source is None:
            print(f"warm runner: not a lightweight component command: {request['argv'][:3]}")
        else:
            code = run_task(source, args)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _preload(name: str) -> None:
    try:
        __import__(name)
    except ImportError:
        pass  # a task that needs it fails in its own process, with its own message


def _start(connection: socket.socket, server: socket.socket) -> int | None:
    """Reads a request and forks its task; None when the request says stop."""
    line = connection.makefile("rb").readline()
    if not line:
        return None
    request = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        server.close()
        _child(connection, request)
    return pid


def serve(socket_path: str) -> None:
    """Preloads the stack while serving tasks, one at a time, until told to stop.

    The socket listens from the start, and the preloading goes on between tasks and while
    a task runs (the task is another process): the first step does not wait for
    TensorFlow. A task that comes before a module is preloaded imports it itself.
    """
    os.environ["_KFP_RUNTIME"] = "true"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path + ".tmp")
    server.listen(1)
    os.rename(socket_path + ".tmp", socket_path)  # the client waits for this name: ready
    to_preload = list(PRELOAD)
    running: tuple[int, socket.socket] | None = None
    while True:
        if running:
            pid, connection = running
            done, status = os.waitpid(pid, os.WNOHANG if to_preload else 0)
            if done:
                code = os.waitstatus_to_exitcode(status)
                with contextlib.suppress(OSError):  # the client left (an interrupt)
                    connection.sendall(f"\n{EXIT_MARKER} {code}\n".encode())
                connection.close()
                running = None
            elif to_preload:
                _preload(to_preload.pop(0))
            continue
        if select.select([server], [], [], 0 if to_preload else None)[0]:
            connection, _ = server.accept()
            pid = _start(connection, server)
            if pid is None:  # the client's way of saying stop; no task is running
                connection.close()
                return
            running = (pid, connection)
        elif to_preload:
            _preload(to_preload.pop(0))


if __name__ == "__main__":
    serve(sys.argv[1])
