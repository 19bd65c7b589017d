"""Sends a compiled pipeline to Vertex AI Pipelines as an ``aiplatform.PipelineJob``.

:func:`build_vertex_job` builds the job without touching the network (a dry run and the
tests build it with anonymous credentials); :func:`submit_to_vertex` submits it. The
Vertex SDK (``greenkfp[vertex]``) is imported only here, inside the functions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from greenkfp.pipelines.runners.package import Package
from greenkfp.pipelines.runners.submission import SubmitFailed, SubmitInputError, Submitted


@dataclass
class VertexTarget:
    """Where and how to send to Vertex AI Pipelines."""

    project: Optional[str]
    region: Optional[str]
    pipeline_root: Optional[str]
    service_account: Optional[str] = None
    enable_caching: Optional[bool] = None
    run_name: Optional[str] = None
    experiment: Optional[str] = None
    labels: Optional[dict] = None


def check_vertex_target(target: VertexTarget) -> None:
    """Raises :class:`SubmitInputError` unless project, region and a gs:// root are given."""
    missing = [
        option
        for option, value in (
            ("--project", target.project),
            ("--region", target.region),
            ("--pipeline-root", target.pipeline_root),
        )
        if not value
    ]
    if missing:
        raise SubmitInputError(f"--vertex needs {', '.join(missing)}")
    if not str(target.pipeline_root).startswith("gs://"):
        raise SubmitInputError(
            f"--pipeline-root must be a gs:// URI for Vertex AI, got {target.pipeline_root!r}"
        )


def _import_aiplatform() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # google-api-core's Python-version FutureWarnings
        try:
            from google.cloud import aiplatform
        except ImportError as err:  # greenkfp itself needs only kfp
            raise SubmitInputError(
                "--vertex needs google-cloud-aiplatform: pip install 'greenkfp[vertex]'"
            ) from err
    return aiplatform


def anonymous_credentials() -> Any:
    """Credentials that never call Google (for a dry run or a test)."""
    _import_aiplatform()  # a clear error when the Vertex SDK is missing
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def build_vertex_job(
    package: Package,
    values: Mapping[str, Any],
    target: VertexTarget,
    credentials: Any = None,
) -> Any:
    """Builds the ``aiplatform.PipelineJob`` that :func:`submit_to_vertex` sends.

    Nothing is sent: the constructor reads the local package, and with explicit
    ``credentials`` it does not look up Application Default Credentials either.

    Args:
        package: The compiled pipeline.
        values: Parameter values (validated with :func:`check_parameters`).
        target: Project, region, gs:// pipeline root, caching, run (display) name.
        credentials: ``google.auth`` credentials; default: Application Default
            Credentials (looked up here, which may contact the metadata server on GCP).

    Returns:
        The job; ``job._gca_resource`` is the request body (pipeline spec, runtime
        config with the parameter values and the pipeline root).

    Raises:
        SubmitInputError: Missing project/region/root, or a root that is not gs://.
        SubmitFailed: No Google credentials could be found.
    """
    check_vertex_target(target)
    aiplatform = _import_aiplatform()
    import google.auth.exceptions

    try:
        return aiplatform.PipelineJob(
            display_name=target.run_name or package.name,
            template_path=str(package.path),
            pipeline_root=target.pipeline_root,
            parameter_values=dict(values),
            enable_caching=target.enable_caching,
            labels=target.labels,
            project=target.project,
            location=target.region,
            credentials=credentials,
        )
    except google.auth.exceptions.GoogleAuthError as err:
        raise SubmitFailed(
            f"no Google Cloud credentials for project {target.project}: {err} "
            "(run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS)"
        ) from err
    except ValueError as err:
        raise SubmitInputError(f"Vertex AI refuses the job: {err}") from err


def submit_to_vertex(job: Any, target: VertexTarget) -> Submitted:
    """Submits a job built by :func:`build_vertex_job`; does not wait for it."""
    where = f"Vertex AI (project {target.project}, region {target.region})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            job.submit(service_account=target.service_account, experiment=target.experiment)
        name = job.resource_name
        url = job._dashboard_uri()
    except Exception as err:  # noqa: BLE001 - one clear line instead of a traceback
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SubmitFailed(f"sending to {where} failed: {text}") from err
    return Submitted(
        target=where,
        run_id=name,
        run_url=url,
        lines=[f"Pipeline job created: {name}", f"Run: {url}"],
    )
