"""The predictor's Prometheus metrics, kept in memory and written in the text format.

Written by hand (the format is plain text) so that serving adds no package to the lock.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import defaultdict
from typing import Optional

from greenkfp.pipelines.serving.served_model import ServedModel

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Upper bounds (seconds) of the request latency histogram."""


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}" if inner else ""


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class ServingMetrics:
    """Counters and a latency histogram per route, and the served model's gauges."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(LATENCY_BUCKETS))
        self._latency_sum: dict[str, float] = defaultdict(float)
        self._latency_count: dict[str, int] = defaultdict(int)
        self.predictions = 0
        self.swaps = 0

    def observe(self, route: str, status: int, seconds: float, rows: int = 0) -> None:
        """Counts one answered request."""
        with self._lock:
            self._requests[(route, status)] += 1
            index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
            if index < len(LATENCY_BUCKETS):
                self._buckets[route][index] += 1
            self._latency_sum[route] += seconds
            self._latency_count[route] += 1
            self.predictions += rows

    def swapped(self, _: ServedModel) -> None:
        """Counts a version swap (the follower's callback)."""
        with self._lock:
            self.swaps += 1

    def render(self, served: Optional[ServedModel], load_errors: int) -> str:
        """All metrics in the Prometheus text exposition format (version 0.0.4)."""
        m = self.model
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"])

        with self._lock:
            family("greenkfp_requests_total", "counter", "Requests answered, by route and code.")
            for (route, code), n in sorted(self._requests.items()):
                lines.append(
                    f"greenkfp_requests_total{_labels(model=m, route=route, code=str(code))} {n}"
                )
            family("greenkfp_request_errors_total", "counter", "Requests answered with 4xx or 5xx.")
            errors: dict[str, int] = defaultdict(int)
            for (route, code), n in self._requests.items():
                errors[route] += n if code >= 400 else 0
            for route, n in sorted(errors.items()):
                lines.append(f"greenkfp_request_errors_total{_labels(model=m, route=route)} {n}")
            family(
                "greenkfp_request_duration_seconds",
                "histogram",
                "Time from request read to answer written.",
            )
            for route in sorted(self._latency_count):
                cumulative = 0
                for bound, n in zip(LATENCY_BUCKETS, self._buckets[route]):
                    cumulative += n
                    le = _labels(model=m, route=route, le=_number(bound))
                    lines.append(f"greenkfp_request_duration_seconds_bucket{le} {cumulative}")
                inf = _labels(model=m, route=route, le="+Inf")
                total = self._latency_count[route]
                lines.append(f"greenkfp_request_duration_seconds_bucket{inf} {total}")
                base = _labels(model=m, route=route)
                lines.append(
                    f"greenkfp_request_duration_seconds_sum{base} "
                    f"{_number(self._latency_sum[route])}"
                )
                lines.append(f"greenkfp_request_duration_seconds_count{base} {total}")
            family("greenkfp_predictions_total", "counter", "Rows scored.")
            lines.append(f"greenkfp_predictions_total{_labels(model=m)} {self.predictions}")
            family("greenkfp_model_swaps_total", "counter", "Versions swapped in as LIVE moved.")
            lines.append(f"greenkfp_model_swaps_total{_labels(model=m)} {self.swaps}")
        family("greenkfp_model_load_errors_total", "counter", "Versions that failed to load.")
        lines.append(f"greenkfp_model_load_errors_total{_labels(model=m)} {load_errors}")
        family("greenkfp_model_ready", "gauge", "1 while a version is served.")
        lines.append(f"greenkfp_model_ready{_labels(model=m)} {int(served is not None)}")
        if served is not None:
            version = str(served.version)
            family("greenkfp_served_version", "gauge", "The served version (info: always 1).")
            info = _labels(model=m, version=version, format=served.spec.format)
            lines.append(f"greenkfp_served_version{info} 1")
            family(
                "greenkfp_model_energy_kwh_per_1k_predictions",
                "gauge",
                "The served model's measured inference energy per 1,000 predictions "
                "(compress_model's figure; NaN when not recorded).",
            )
            labels = _labels(model=m, version=version)
            lines.append(
                f"greenkfp_model_energy_kwh_per_1k_predictions{labels} "
                f"{_number(served.energy_kwh_per_1k)}"
            )
            family(
                "greenkfp_model_sci_g_co2eq_per_1k_predictions",
                "gauge",
                "The served model's SCI per 1,000 predictions, operational only "
                "(NaN when not recorded).",
            )
            lines.append(
                f"greenkfp_model_sci_g_co2eq_per_1k_predictions{labels} "
                f"{_number(served.sci_g_per_1k)}"
            )
        return "\n".join(lines) + "\n"
