"""``greenkfp serve``: serve a registry model's LIVE version over HTTP (KServe v1 and v2).

``greenkfp serve --registry DIR|gs://... --model-name NAME [--port 8080] [--host 127.0.0.1]``

It serves the artifact the version's ``serving.json`` names (the TFLite pair the gate
judged) from raw feature rows, follows LIVE without a restart, and exposes ``/metrics``
for Prometheus. Bad arguments (an invalid model name, a port in use) exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any


def add_parser(commands: Any) -> None:
    """Adds the ``serve`` command to the ``greenkfp`` subcommands."""
    serve = commands.add_parser(
        "serve",
        help="serve a registry model's LIVE version (KServe v1/v2, /metrics)",
        description="Serve the LIVE version of a model in a greenkfp registry from raw "
        "feature rows: Open Inference Protocol v2 and KServe v1 routes, health, readiness "
        "and Prometheus /metrics. A deploy or rollback takes effect without a restart.",
    )
    serve.add_argument("--registry", required=True, help="registry base URI (folder or gs://)")
    serve.add_argument("--model-name", required=True, help="model name in the registry")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any)")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument(
        "--poll-seconds", type=float, default=2.0, help="how often LIVE is read (default 2)"
    )
    serve.set_defaults(handler=run)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Serves until SIGTERM or Ctrl-C."""
    from greenkfp.components._shared.errors import InputError
    from greenkfp.pipelines.serving.server import PredictorServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        server = PredictorServer(
            args.registry, args.model_name, args.host, args.port, args.poll_seconds
        )
    except (InputError, OSError) as err:
        print(f"greenkfp serve: {err}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"greenkfp serve: {args.model_name} from {args.registry} at {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
