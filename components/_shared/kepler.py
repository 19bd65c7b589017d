"""Kepler's figure for a step's own pod, read from Prometheus, beside codecarbon's.

Where the cluster runs Kepler (v0.10 and later) and a Prometheus scrapes it, each step
asks Prometheus's HTTP API (``GET /api/v1/query``) for its pod's CPU energy over its own
window::

    sum(max without(state) (increase(
        kepler_pod_cpu_joules_total{pod_name="<pod>",zone="package"}[<window>s])))

evaluated at the window's end. The pod is the one named by ``KFP_POD_NAME``, which the
KFP v2 backend sets in every task's pod from ``metadata.name`` (downward API). ``zone``
``package`` is the CPU package (it includes the ``core`` and ``uncore`` zones, so they are
not added again); ``max without(state)`` keeps one series where Kepler keeps a running and
a terminated one. Joules / 3.6e6 = kWh.

This is a cross-check, never a reason to fail: Prometheus down, slow (short timeouts),
answering an error or a body that is not Prometheus's documented shape, or no series for
the pod in the window (a window shorter than two scrapes has none) all give no figure and
a status that says why. Kepler's pod figure is CPU only; codecarbon's adds RAM and GPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional

PROMETHEUS_URL_ENV_VAR = "GREENKFP_PROMETHEUS_URL"
"""Prometheus's base URL (e.g. ``http://prometheus.monitoring:9090``); unset: no check."""

POD_NAME_ENV_VAR = "KFP_POD_NAME"
"""Set by the KFP v2 backend in every task's pod: the pod's name."""

KEPLER_METRIC = "kepler_pod_cpu_joules_total"
KEPLER_ZONE = "package"
TIMEOUT_S = 3.0
JOULES_PER_KWH = 3.6e6

STATUS_OK = "ok"
STATUS_NOT_CONFIGURED = f"not configured ({PROMETHEUS_URL_ENV_VAR} unset)"


@dataclasses.dataclass(frozen=True)
class KeplerCheck:
    """Kepler's CPU energy of the pod over the window, or why there is none."""

    energy_kwh: Optional[float]
    status: str


def pod_energy_query(pod: str, window_s: float) -> str:
    """The PromQL for the pod's CPU energy increase over the last ``window_s`` seconds."""
    name = pod.replace("\\", "\\\\").replace('"', '\\"')
    seconds = max(1, math.ceil(window_s))
    selector = f'{KEPLER_METRIC}{{pod_name="{name}",zone="{KEPLER_ZONE}"}}'
    return f"sum(max without(state) (increase({selector}[{seconds}s])))"


def _value(body: Any) -> float:
    """The one sample's value in a Prometheus instant-vector answer (in joules)."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise ValueError(f"Prometheus answered an error: {error or 'status is not success'}")
    data = body.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise ValueError("not an instant vector (data.resultType)")
    result = data.get("result")
    if not isinstance(result, list):
        raise ValueError("data.result is not a list")
    if not result:
        raise LookupError("no Kepler series for the pod in the window")
    sample = result[0].get("value") if isinstance(result[0], dict) else None
    if not isinstance(sample, list) or len(sample) != 2:
        raise ValueError("data.result[0].value is not [time, value]")
    joules = float(sample[1])
    if not math.isfinite(joules) or joules < 0:
        raise ValueError(f"value {sample[1]!r} is not a finite energy")
    return joules


def kepler_pod_energy(
    prometheus_url: str, pod: str, start_s: float, end_s: float, timeout_s: float = TIMEOUT_S
) -> KeplerCheck:
    """Asks Prometheus for Kepler's CPU energy of ``pod`` between two wall-clock times.

    Args:
        prometheus_url: Prometheus's base URL.
        pod: The pod's name.
        start_s: The window's start, seconds since the epoch.
        end_s: The window's end, seconds since the epoch.
        timeout_s: Seconds to wait for Prometheus.

    Returns:
        The figure with status ``ok``, or no figure and the reason; never raises for what
        Prometheus does.
    """
    query = pod_energy_query(pod, end_s - start_s)
    params = urllib.parse.urlencode({"query": query, "time": f"{end_s:.3f}"})
    url = f"{prometheus_url.rstrip('/')}/api/v1/query?{params}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as err:
        try:
            body = json.loads(err.read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return KeplerCheck(None, f"Prometheus answered HTTP {err.code}")
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, TimeoutError):
            return KeplerCheck(None, f"Prometheus did not answer within {timeout_s:g} s")
        return KeplerCheck(None, f"Prometheus unreachable at {prometheus_url}: {reason}")
    except (ValueError, UnicodeDecodeError):
        return KeplerCheck(None, "Prometheus answered something that is not JSON")
    try:
        joules = _value(body)
    except LookupError as err:
        return KeplerCheck(None, f"{err} (pod {pod!r})")
    except (ValueError, TypeError, AttributeError) as err:
        return KeplerCheck(None, f"Prometheus answer not understood: {err}")
    return KeplerCheck(joules / JOULES_PER_KWH, STATUS_OK)


def cross_check(start_s: float, end_s: float, prometheus_url: Optional[str] = None) -> KeplerCheck:
    """Kepler's figure for this step's pod, when a Prometheus is configured.

    Args:
        start_s: The step's start, seconds since the epoch.
        end_s: The step's end, seconds since the epoch.
        prometheus_url: Prometheus's base URL; None or empty: ``GREENKFP_PROMETHEUS_URL``.

    Returns:
        The check; ``not configured`` when no URL is given, and a reason when the pod's
        name (``KFP_POD_NAME``) is unknown.
    """
    url = (prometheus_url or os.environ.get(PROMETHEUS_URL_ENV_VAR, "")).strip()
    if not url:
        return KeplerCheck(None, STATUS_NOT_CONFIGURED)
    pod = os.environ.get(POD_NAME_ENV_VAR, "").strip()
    if not pod:
        return KeplerCheck(None, f"{POD_NAME_ENV_VAR} is unset: not running in a KFP pod")
    return kepler_pod_energy(url, pod, start_s, end_s)
