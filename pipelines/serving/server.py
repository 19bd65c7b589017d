"""The HTTP server of ``greenkfp serve``: KServe v1 and Open Inference Protocol v2 routes.

Routes: ``GET /v2/health/live``, ``GET /v2/health/ready``, ``GET /v2``,
``GET /v2/models/NAME``, ``GET /v2/models/NAME/ready``, ``POST /v2/models/NAME/infer``,
``GET /v1/models/NAME``, ``POST /v1/models/NAME:predict`` and ``GET /metrics``.
A malformed request gets 400 (413 above the body limit) with a message naming the field,
an unknown model 404, and every model route 503 with the reason while nothing is served.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.registry_reading import RegistryReader, validate_model_name
from greenkfp.pipelines.serving import protocol
from greenkfp.pipelines.serving.metrics import ServingMetrics
from greenkfp.pipelines.serving.protocol import RequestError
from greenkfp.pipelines.serving.served_model import LiveFollower, ServedModel

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest request body parsed; a larger one gets 413."""

DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
"""Largest oversized body read and dropped before the 413; beyond it the socket closes."""

V2_MODEL = re.compile(r"^/v2/models/([^/]+)(/infer|/ready)?$")
V1_MODEL = re.compile(r"^/v1/models/([^/:]+)(:predict)?$")


class PredictorServer:
    """Serves one registry model's LIVE version over HTTP until :meth:`stop`.

    Attributes:
        follower: Loads LIVE and swaps versions as it moves.
        metrics: What ``/metrics`` reports.
        url: ``http://host:port`` (the bound port when 0 was asked).
    """

    def __init__(
        self,
        registry_uri: str,
        model_name: str,
        host: str = "127.0.0.1",
        port: int = 8080,
        poll_seconds: float = 2.0,
    ) -> None:
        self.model_name = validate_model_name(model_name)
        self.metrics = ServingMetrics(model_name)
        self.follower = LiveFollower(
            RegistryReader(registry_uri), model_name, poll_seconds, self.metrics.swapped
        )
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self.httpd.daemon_threads = True
        bound_host, bound_port = self.httpd.server_address[:2]
        self.url = f"http://{bound_host}:{bound_port}"
        self._thread: Optional[threading.Thread] = None

    def start(self) -> PredictorServer:
        """Loads LIVE (when there is one), then answers requests in a background thread."""
        self.follower.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Loads LIVE, then answers requests in this thread until interrupted."""
        self.follower.start()
        try:
            self.httpd.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stops answering and following LIVE, and closes the socket."""
        self.follower.stop()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.httpd.server_close()

    # -- routes: each returns (status, JSON-able body, rows scored)

    def _served(self, name: str) -> ServedModel:
        if name != self.model_name:
            raise RequestError(
                404, f"model {name!r} is not served here; this server serves {self.model_name!r}"
            )
        served = self.follower.current
        if served is None:
            raise RequestError(503, f"model {name!r} is not ready: {self.follower.reason}")
        return served

    def ready(self) -> tuple[int, dict[str, Any]]:
        """``/v2/health/ready``: 200 while a version is served, else 503 with the reason."""
        served = self.follower.current
        if served is None:
            return 503, {"ready": False, "reason": self.follower.reason}
        return 200, {"ready": True, "model": self.model_name, "version": served.version}

    def get(self, path: str) -> tuple[int, Any]:
        """Answers a GET; raises :class:`RequestError` for an unknown path or model."""
        if path == "/v2/health/live":
            return 200, {"live": True}
        if path in ("/v2/health/ready", "/ready"):
            return self.ready()
        if path == "/v2":
            from greenkfp import __version__

            return 200, {"name": "greenkfp", "version": __version__, "extensions": []}
        v2, v1 = V2_MODEL.match(path), V1_MODEL.match(path)
        if v2 and v2.group(2) != "/infer":
            served = self._served(v2.group(1))
            if v2.group(2) == "/ready":
                return 200, {"name": served.name, "ready": True}
            return 200, protocol.v2_metadata(
                served.name, served.version, f"greenkfp_{served.spec.format}", served.spec.inputs
            )
        if v1 and not v1.group(2):
            served = self._served(v1.group(1))
            return 200, {"name": served.name, "ready": True, "version": served.version}
        raise RequestError(404, f"no GET route {path}")

    def post(self, path: str, body: bytes) -> tuple[int, Any, int, Optional[int]]:
        """Answers a POST: status, answer, rows scored and the version that scored them."""
        v2, v1 = V2_MODEL.match(path), V1_MODEL.match(path)
        if v2 and v2.group(2) == "/infer":
            served = self._served(v2.group(1))
            request = protocol.parse_json(body)
            scores = self._score(served, protocol.v2_rows(request, served.spec.inputs))
            answer = protocol.v2_answer(served.name, served.version, scores, request.get("id"))
            return 200, answer, len(scores), served.version
        if v1 and v1.group(2):
            served = self._served(v1.group(1))
            request = protocol.parse_json(body)
            scores = self._score(served, protocol.v1_rows(request, served.spec.inputs))
            return 200, {"predictions": scores}, len(scores), served.version
        raise RequestError(404, f"no POST route {path}")

    @staticmethod
    def _score(served: ServedModel, rows: Any) -> list[float]:
        try:
            return [float(s) for s in served.predict(rows)]
        except InputError as err:  # a value the model's input contract refuses
            raise RequestError(400, str(err)) from None


def _route_label(path: str) -> str:
    if path.endswith("/infer"):
        return "v2_infer"
    if path.endswith(":predict"):
        return "v1_predict"
    if path.startswith("/v2/health"):
        return "health"
    return "metrics" if path == "/metrics" else "other"


def _handler_for(server: PredictorServer) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "greenkfp-serve"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: int, payload: Any, version: Optional[int] = None) -> None:
            if isinstance(payload, str):
                data, kind = payload.encode(), "text/plain; version=0.0.4; charset=utf-8"
            else:
                data, kind = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            if version is not None:
                self.send_header("X-Model-Version", str(version))
            if status >= 400 and self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, work: Callable[[], tuple]) -> None:
            path = self.path.split("?", 1)[0]
            started = time.perf_counter()
            rows, version = 0, None
            try:
                status, payload, *rest = work()
                if rest:
                    rows, version = rest
            except RequestError as err:
                status, payload = err.status, {"error": err.message}
            except Exception as err:  # the server stays up; the client learns why
                log.exception("request %s failed", path)
                status, payload = 500, {"error": f"internal error: {err}"}
            # Counted before the answer goes out: a client that has its answer finds it counted.
            server.metrics.observe(_route_label(path), status, time.perf_counter() - started, rows)
            self._send(status, payload, version)

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(
                    lambda: (
                        200,
                        server.metrics.render(server.follower.current, server.follower.load_errors),
                    )
                )
                return
            self._answer(lambda: server.get(path))

        def do_POST(self) -> None:  # noqa: N802
            self._answer(lambda: server.post(self.path.split("?", 1)[0], self._body()))

        def _body(self) -> bytes:
            length = self.headers.get("Content-Length")
            if length is None:
                self.close_connection = True
                raise RequestError(411, "the request has no Content-Length header")
            try:
                size = int(length)
            except ValueError:
                self.close_connection = True
                raise RequestError(400, f"Content-Length {length!r} is not a number") from None
            if size > MAX_BODY_BYTES:
                self.close_connection = True
                self._discard(size)
                raise RequestError(
                    413, f"the request body has {size} bytes; the limit is {MAX_BODY_BYTES}"
                )
            return self.rfile.read(size)

        def _discard(self, size: int) -> None:
            # Read (and drop) a moderately oversized body so that the client, still
            # sending, gets the 413 instead of a broken pipe; a huge one stays unread.
            if size > DRAIN_LIMIT_BYTES:
                return
            while size > 0:
                chunk = self.rfile.read(min(size, 1 << 20))
                if not chunk:
                    return
                size -= len(chunk)

    return Handler
