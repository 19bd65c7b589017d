"""A fake Prometheus HTTP API on 127.0.0.1: ``GET /api/v1/query`` in its documented shape.

The ``prometheus`` fixture (``tests/conftest.py``) starts it, with ``KFP_POD_NAME`` set,
and yields its URL; a test sets ``FakePrometheus.answer`` and ``.status`` first.
"""

import json
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from helpers import reply_json

from greenkfp.components._shared import kepler

POD = "training-pipeline-abc12-system-container-impl-1234"


def vector(joules):
    """An instant-vector answer of ``GET /api/v1/query``, as Prometheus documents it."""
    result = [] if joules is None else [{"metric": {}, "value": [1700000000.0, str(joules)]}]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class FakePrometheus(BaseHTTPRequestHandler):
    answer: object = None  # a dict (sent as JSON), bytes (sent as is), or "slow"
    status = 200
    queries: list = []

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        FakePrometheus.queries.append((url.path, urllib.parse.parse_qs(url.query)))
        answer = FakePrometheus.answer
        if answer == "slow":
            time.sleep(kepler.TIMEOUT_S + 1)
            answer = vector(1.0)
        body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        reply_json(self, body, FakePrometheus.status)

    def log_message(self, *args):
        pass
