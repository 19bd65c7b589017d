"""Sends a compiled pipeline to a Kubeflow Pipelines host through ``kfp.Client``.

:func:`submit_to_kfp` creates a run from the package, or uploads it as a pipeline (a new
version when one of that name exists) and optionally runs that. The host is probed
first, socket waits are bounded, and kfp.Client's prints and logged tracebacks become
one :class:`SubmitFailed` line that names the host.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import urllib.parse
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from greenkfp.pipelines.runners.package import Package
from greenkfp.pipelines.runners.submission import (
    SubmitFailed,
    SubmitInputError,
    Submitted,
    stamp,
)

# How long one socket operation towards a KFP host may take, and the reachability probe.
KFP_SOCKET_TIMEOUT_S = 60.0
KFP_CONNECT_TIMEOUT_S = 10.0


@dataclass
class KfpTarget:
    """Where and how to send to a KFP host (every field optional)."""

    host: Optional[str] = None
    namespace: Optional[str] = None
    existing_token: Optional[str] = field(default=None, repr=False)
    experiment: Optional[str] = None
    run_name: Optional[str] = None
    enable_caching: Optional[bool] = None
    pipeline_root: Optional[str] = None
    service_account: Optional[str] = None
    upload: bool = False
    run: bool = True
    version_name: Optional[str] = None


def normalize_host(host: Optional[str]) -> Optional[str]:
    """Returns the host URL as kfp.Client uses it (https:// when no scheme, no trailing /)."""
    if not host:
        return None
    if not host.startswith("http"):
        host = "https://" + host
    return host.rstrip("/")


def kfp_host(target: KfpTarget) -> Optional[str]:
    """The KFP host that will be used: ``--host``, else ``KF_PIPELINES_ENDPOINT``."""
    return normalize_host(target.host or os.environ.get("KF_PIPELINES_ENDPOINT"))


class _CapturedLogs(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _quiet_client(timeout_s: float) -> Iterator[tuple[io.StringIO, _CapturedLogs]]:
    """Captures kfp.Client's prints and logged tracebacks, bounds socket waits."""
    printed = io.StringIO()
    logs = _CapturedLogs()
    root = logging.getLogger()
    root.addHandler(logs)  # also keeps logging's last-resort handler from printing
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
            warnings.simplefilter("ignore")
            yield printed, logs
    finally:
        socket.setdefaulttimeout(previous_timeout)
        root.removeHandler(logs)


def _probe(host: str) -> None:
    """Opens (and closes) a TCP connection to the host; no request is sent."""
    parts = urllib.parse.urlsplit(host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=KFP_CONNECT_TIMEOUT_S):
            pass
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        if isinstance(err, socket.timeout):
            reason = f"no answer in {KFP_CONNECT_TIMEOUT_S:.0f} s"
        hint = ""
        if parts.hostname in ("localhost", "127.0.0.1", "::1"):
            hint = (
                " (is the port-forward running? e.g. kubectl port-forward -n kubeflow "
                "svc/ml-pipeline-ui 8080:80)"
            )
        raise SubmitFailed(f"cannot reach KFP host {host}: {reason}{hint}") from err


def _error_text(err: BaseException) -> str:
    try:
        from kfp_server_api import ApiException
    except ImportError:  # pragma: no cover - kfp always brings it
        ApiException = ()  # noqa: N806
    if ApiException and isinstance(err, ApiException):
        text = f"HTTP {err.status} {err.reason or ''}".strip()
        body = err.body.decode(errors="replace") if isinstance(err.body, bytes) else err.body
        if body:
            try:
                parsed = json.loads(body)
                body = parsed.get("message") or parsed.get("error") or body
            except (ValueError, AttributeError):
                pass
            text += f": {str(body).strip()[:300]}"
        return text
    # urllib3's MaxRetryError -> NewConnectionError -> "<object>: Failed to ... refused".
    while getattr(err, "reason", None) is not None and isinstance(err.reason, BaseException):
        err = err.reason
    text = re.sub(r"^<[^>]*>: ", "", str(err)) or type(err).__name__
    return text.splitlines()[0] if text else type(err).__name__


def _failure(
    host: Optional[str], err: BaseException, logs: _CapturedLogs, printed: str
) -> SubmitFailed:
    where = f"KFP host {host}" if host else "the KFP host from kube config or in-cluster"
    text = _error_text(err)
    if not host and "Failed to load kube config" in printed:
        text += " (no kube config either: give --host or set KF_PIPELINES_ENDPOINT)"
    if isinstance(err, TimeoutError):  # get_kfp_healthz gave up; say why
        causes = [r.exc_info[1] for r in logs.records if r.exc_info and r.exc_info[1]]
        if causes:
            text = f"health check failed: {_error_text(causes[-1])}"
    return SubmitFailed(f"sending to {where} failed: {text}")


def _find_pipeline_id(client: Any, name: str, namespace: Optional[str]) -> Optional[str]:
    predicate = {"operation": "EQUALS", "key": "display_name", "stringValue": name}
    query = json.dumps({"predicates": [predicate]})
    pipelines = client.list_pipelines(filter=query, namespace=namespace).pipelines or []
    if len(pipelines) > 1:
        raise SubmitFailed(f"{len(pipelines)} pipelines are named {name!r}; names must be unique")
    return pipelines[0].pipeline_id if pipelines else None


def _ui_prefix(host: Optional[str]) -> Optional[str]:
    ui = os.environ.get("KF_PIPELINES_UI_ENDPOINT") or host
    if not ui:
        return None
    return ui if ui.startswith(("http://", "https://")) else "http://" + ui


def make_kfp_client(target: KfpTarget) -> Any:
    """Creates ``kfp.Client`` for the target (it reads kube config when no host is given)."""
    import kfp

    kwargs: dict[str, Any] = {"host": kfp_host(target)}
    if target.namespace:
        kwargs["namespace"] = target.namespace
    if target.existing_token:
        kwargs["existing_token"] = target.existing_token
    return kfp.Client(**kwargs)


def submit_to_kfp(
    package: Package,
    values: Mapping[str, Any],
    target: KfpTarget,
    client_factory: Any = make_kfp_client,
) -> Submitted:
    """Sends the package to a KFP host: a run from the package, or upload (and run).

    Args:
        package: The compiled pipeline.
        values: Parameter values (validated with :func:`check_parameters`).
        target: Host, namespace, experiment, run name, caching and mode.
        client_factory: Makes the client from the target (tests may pass their own).

    Returns:
        The created run's and/or pipeline's IDs and URLs.

    Raises:
        SubmitInputError: Options that do not fit together.
        SubmitFailed: The host is unreachable or refused a request.
    """
    if target.upload and target.run and target.enable_caching is not None:
        raise SubmitInputError(
            "--enable-caching/--no-caching cannot be applied to a run of an uploaded pipeline "
            "version (kfp.Client overrides caching only for runs from a package); drop the "
            "flag, or --upload"
        )
    if not target.upload and not target.run:
        raise SubmitInputError("--no-run only makes sense with --upload")
    host = kfp_host(target)
    if host:
        _probe(host)
    run_name = target.run_name or f"{package.name} {stamp()}"
    done = Submitted(target=f"KFP host {host}" if host else "KFP host (kube config)")
    with (
        tempfile.TemporaryDirectory() as tmp,
        _quiet_client(KFP_SOCKET_TIMEOUT_S) as (printed, logs),
    ):
        path = package.path
        if path.suffix.lower() not in (".yaml", ".yml"):  # kfp.Client wants a .yaml name
            path = Path(shutil.copy(path, Path(tmp) / "pipeline.yaml"))
        try:
            client = client_factory(target)
            namespace = target.namespace
            if target.upload:
                _upload(client, package, path, target, done)
                if target.run:
                    experiment = client.create_experiment(
                        name=_experiment_name(target), namespace=namespace
                    )
                    run = client.run_pipeline(
                        experiment_id=experiment.experiment_id,
                        job_name=run_name,
                        params=dict(values),
                        pipeline_id=done.pipeline_id,
                        version_id=done.version_id,
                        pipeline_root=target.pipeline_root,
                        service_account=target.service_account,
                    )
                    done.run_id = run.run_id
            else:
                result = client.create_run_from_pipeline_package(
                    pipeline_file=str(path),
                    arguments=dict(values),
                    run_name=run_name,
                    experiment_name=target.experiment,
                    namespace=namespace,
                    pipeline_root=target.pipeline_root,
                    enable_caching=target.enable_caching,
                    service_account=target.service_account,
                )
                done.run_id = result.run_id
        except (SubmitFailed, SubmitInputError):
            raise
        except Exception as err:  # noqa: BLE001 - one clear line instead of a traceback
            raise _failure(host, err, logs, printed.getvalue()) from err
    prefix = _ui_prefix(host)
    if done.pipeline_id:
        kind = "new pipeline" if done.new_pipeline else "new version"
        done.lines.append(
            f"Uploaded pipeline {package.name!r} ({kind}): pipeline ID {done.pipeline_id}, "
            f"version ID {done.version_id}"
        )
        if prefix:
            done.pipeline_url = (
                f"{prefix}/#/pipelines/details/{done.pipeline_id}/version/{done.version_id}"
            )
            done.lines.append(f"Pipeline: {done.pipeline_url}")
    if done.run_id:
        done.lines.append(f"Run {run_name!r} created: run ID {done.run_id}")
        if prefix:
            done.run_url = f"{prefix}/#/runs/details/{done.run_id}"
            done.lines.append(f"Run: {done.run_url}")
    return done


def _experiment_name(target: KfpTarget) -> str:
    # The same order as kfp.Client.create_run_from_pipeline_package.
    name = target.experiment or os.environ.get("KF_PIPELINES_DEFAULT_EXPERIMENT_NAME")
    return os.environ.get("KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME", name) or "Default"


def _upload(client: Any, package: Package, path: Path, target: KfpTarget, done: Submitted):
    from greenkfp import __version__

    existing = _find_pipeline_id(client, package.name, target.namespace)
    if existing is None:
        pipeline = client.upload_pipeline(
            str(path),
            pipeline_name=package.name,
            description=package.description,
            namespace=target.namespace,
        )
        done.pipeline_id, done.new_pipeline = pipeline.pipeline_id, True
        versions = client.list_pipeline_versions(
            pipeline.pipeline_id, page_size=1, sort_by="created_at desc"
        )
        latest = (versions.pipeline_versions or [None])[0]
        done.version_id = latest.pipeline_version_id if latest else None
    else:
        version = client.upload_pipeline_version(
            str(path),
            pipeline_version_name=target.version_name
            or f"{package.name} greenkfp-{__version__} {stamp()}",
            pipeline_id=existing,
            description=package.description,
        )
        done.pipeline_id, done.version_id = version.pipeline_id, version.pipeline_version_id
    if target.run and not done.version_id:
        raise SubmitFailed(f"the KFP host returned no version of pipeline {done.pipeline_id}")
