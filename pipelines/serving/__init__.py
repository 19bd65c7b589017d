"""``greenkfp serve``: a KServe custom predictor for a registry's LIVE version.

- :mod:`.served_model`: one loaded version (its ``serving.json`` artifact, the shared
  predictor, its recorded energy and SCI) and the follower that swaps versions when LIVE
  moves.
- :mod:`.protocol`: Open Inference Protocol v2 and KServe v1 request bodies to raw rows,
  and answers; bad requests become :class:`.protocol.RequestError` (status, message).
- :mod:`.metrics`: request counters, latency histogram and model gauges, in Prometheus's
  text format.
- :mod:`.server`: the HTTP server (stdlib ``ThreadingHTTPServer``; the ``kserve`` SDK
  would move the locked protobuf and pandas pins).

Nothing here is imported by ``greenkfp.pipelines``: only the ``serve`` command loads it.
"""
