"""Helpers the tests share (importable thanks to pytest's ``pythonpath = tests``)."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[1]
EMBEDDED_DATA = REPO / "pipelines" / "data" / "german_credit.csv"


def run_cli(*args: str, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs the greenkfp CLI in a fresh interpreter, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "greenkfp", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def submit_cli(capsys, *argv: str) -> tuple:
    """Runs greenkfp submit through add_parser/run, as cli.py wires it: (status, out, err)."""
    import argparse

    from greenkfp.pipelines.cli import submit

    parser = argparse.ArgumentParser(prog="greenkfp")
    submit.add_parser(parser.add_subparsers(dest="command", required=True))
    status = submit.run(parser.parse_args(["submit", *argv]))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def load_summary(output_dir: Path) -> dict:
    return json.loads((output_dir / "run_summary.json").read_text())


def energy_figures(
    kwh: float, intensity: float = 400.0, duration: float = 2.0, cpu_share: float = 0.7
) -> dict[str, float]:
    """A step's energy figures under the keys every component records (no GPU)."""
    return {
        "energy_kwh": kwh,
        "cpu_energy_kwh": kwh * cpu_share,
        "gpu_energy_kwh": 0.0,
        "ram_energy_kwh": kwh * (1.0 - cpu_share),
        "emissions_kg_co2eq": kwh * intensity / 1000.0,
        "carbon_intensity_g_per_kwh": intensity,
        "duration_s": duration,
    }


@contextlib.contextmanager
def local_http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serves ``handler`` on 127.0.0.1 in a thread; yields its base URL; stops it after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def reply_json(handler: BaseHTTPRequestHandler, body: str | bytes, status: int = 200) -> None:
    """Sends ``body`` as a JSON answer; a client that hung up already is not an error."""
    data = body.encode() if isinstance(body, str) else body
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeJsonApi(BaseHTTPRequestHandler):
    """A fake JSON API for ``local_http_server``: records every GET, sleeps 1 s in mode ``slow``.

    Subclasses set ``mode = "ok"`` and ``queries = []`` of their own and answer in
    ``answer(path, query) -> (status, body)``.
    """

    mode = "ok"
    queries: list = []

    def do_GET(self) -> None:  # noqa: N802 (BaseHTTPRequestHandler's name)
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        type(self).queries.append((url.path, query))
        if type(self).mode == "slow":
            time.sleep(1.0)
        status, body = self.answer(url.path, query)
        reply_json(self, body, status)

    def answer(self, path: str, query: dict) -> tuple[int, str | bytes]:
        raise NotImplementedError

    def log_message(self, *args: Any) -> None:
        pass
