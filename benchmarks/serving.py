"""Benchmark: ``greenkfp serve`` under load on 127.0.0.1, with a rollback in the middle.

Copies the registry (default: the demo's, ``runs/demo/registry``) to a temporary folder,
adds a second version there (a copy of the LIVE one, made LIVE), starts
``greenkfp serve`` on it as a subprocess, and sends ``--requests`` v1 ``:predict``
requests (one raw row of the embedded data each) from ``--clients`` concurrent clients
over keep-alive connections. When half the requests are answered it rolls LIVE back to
the original version; the server must follow without a failed request.

The last line printed is one JSON object::

    {"requests": 5000, "clients": 8, "errors": 0, "p50_ms": ..., "p99_ms": ...,
     "throughput_rps": ..., "version_before": 2, "version_after": 1,
     "versions_answered": {"2": ..., "1": ...}, "metrics_version_label": "1"}

Usage::

    .venv/bin/greenkfp run --output-dir runs/demo      # once: a registry with a version
    .venv/bin/python benchmarks/serving.py [--registry runs/demo/registry]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "pipelines" / "data" / "german_credit.csv"


def prepare(source: Path, target: Path, model: str) -> tuple[int, int]:
    """Copies the registry; adds version N+1 as a copy of LIVE N and makes it LIVE."""
    from greenkfp.components.deployment.registry import Registry

    shutil.copytree(source, target)
    registry = Registry(str(target))
    live = registry.live_version(model)
    if live is None:
        sys.exit(f"{source} has no LIVE version of {model!r}: run greenkfp run first")
    newest = max(v.version for v in registry.versions(model)) + 1
    shutil.copytree(target / model / str(live), target / model / str(newest))
    registry.set_live(model, newest)
    return newest, live


def start_server(registry: Path, model: str) -> tuple[subprocess.Popen, str]:
    """Starts ``greenkfp serve`` on a free port; returns the process and its host:port."""
    command = [sys.executable, "-m", "greenkfp", "serve", "--registry", str(registry)]
    command += ["--model-name", model, "--port", "0", "--poll-seconds", "0.5"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    found = re.search(r"at http://([\d.]+):(\d+)", line)
    if not found:
        process.kill()
        sys.exit(f"greenkfp serve did not start: {line!r}")
    return process, f"{found.group(1)}:{found.group(2)}"


def request(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, str]:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status, response.getheader("X-Model-Version", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--registry", default=str(REPO / "runs" / "demo" / "registry"))
    parser.add_argument("--model-name", default="greenkfp-model")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    model = args.model_name
    rows = pd.read_csv(DATA).drop(columns=["risk"]).head(200)
    bodies = [
        json.dumps({"instances": [record]}).encode()
        for record in json.loads(rows.to_json(orient="records"))
    ]
    with tempfile.TemporaryDirectory(prefix="greenkfp-serving-") as tmp:
        registry = Path(tmp) / "registry"
        before, after = prepare(Path(args.registry), registry, model)
        process, address = start_server(registry, model)
        host, port = address.split(":")
        path = f"/v1/models/{model}:predict"
        results: list[tuple[int, str, float]] = []
        lock, counter = threading.Lock(), iter(range(args.requests))
        rolled = threading.Event()

        def client() -> None:
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
            for i in counter:  # next() on a range iterator is atomic under the GIL
                started = time.perf_counter()
                try:
                    status, version = request(conn, path, bodies[i % len(bodies)])
                except (OSError, http.client.HTTPException):
                    status, version = 0, ""
                    conn = http.client.HTTPConnection(host, int(port), timeout=60)
                with lock:
                    results.append((status, version, time.perf_counter() - started))
                    done = len(results)
                if done == args.requests // 2 and not rolled.is_set():
                    rolled.set()
                    from greenkfp.components.deployment.registry import Registry

                    Registry(str(registry)).rollback(model, to=after)
            conn.close()

        try:
            threads = [threading.Thread(target=client) for _ in range(args.clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request("GET", "/metrics")
            metrics = conn.getresponse().read().decode()
        finally:
            process.terminate()
            process.wait(timeout=30)
    latencies = np.array([r[2] for r in results]) * 1000.0
    label = re.search(r'greenkfp_served_version\{[^}]*version="(\d+)"', metrics)
    answered: dict[str, int] = {}
    for _, version, _ in results:
        answered[version] = answered.get(version, 0) + 1
    figures = {
        "requests": len(results),
        "clients": args.clients,
        "errors": sum(1 for status, _, _ in results if status != 200),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "throughput_rps": round(len(results) / elapsed, 1),
        "version_before": before,
        "version_after": after,
        "versions_answered": answered,
        "metrics_version_label": label.group(1) if label else None,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
