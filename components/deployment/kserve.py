"""The KServe ``InferenceService`` for a pushed version, and applying it in a cluster.

Two ways to point KServe at the registry (``pin_version``):

- pinned (default): ``storageUris: [{uri: <base>/<model>/<N>, path: /mnt/models/<N>}]``.
  KServe's TensorFlow runtime runs TF Serving on ``/mnt/models``, which then holds exactly
  version ``N``: the service serves the pushed (or rolled-back-to) version and nothing
  else. ``storageUris`` needs KServe 0.16 or newer.
- model root: ``storageUri: <base>/<model>``. Any KServe version; TF Serving serves the
  highest numbered version there, which right after a push is the pushed one (versions
  only grow) but ignores LIVE after a rollback.

A version whose ``serving.json`` says ``tflite_pair`` (a compressed model) is not a
TensorFlow model: no standard KServe runtime serves the TFLite pair with its raw-row
preprocessing. Its manifest runs ``greenkfp serve`` from the project image as a KServe
custom predictor (:func:`predictor_container`), which reads the registry itself and
serves, and follows, its LIVE version; ``pin_version`` does not apply there.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from greenkfp.components._shared.errors import InputError

GROUP = "serving.kserve.io"
API_VERSION = "v1beta1"
PLURAL = "inferenceservices"
MOUNT_ROOT = "/mnt/models"
PREDICTOR_PORT = 8080
SCRAPE_ANNOTATIONS = {
    "serving.kserve.io/enable-prometheus-scraping": "true",
    "prometheus.kserve.io/port": str(PREDICTOR_PORT),
    "prometheus.kserve.io/path": "/metrics",
}
"""KServe's annotations that let Prometheus scrape the predictor's ``/metrics``."""


def predictor_container(image: str, registry_uri: str, model_name: str) -> dict[str, Any]:
    """The KServe custom predictor container that runs ``greenkfp serve`` on the registry."""
    return {
        "name": "kserve-container",
        "image": image,
        "command": ["greenkfp"],
        "args": [
            "serve",
            "--registry",
            registry_uri,
            "--model-name",
            model_name,
            "--host",
            "0.0.0.0",
            "--port",
            str(PREDICTOR_PORT),
        ],
        "ports": [{"containerPort": PREDICTOR_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": PREDICTOR_PORT}},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": PREDICTOR_PORT}},
    }


SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def inference_service(
    name: str,
    model_uri: str,
    version: int,
    namespace: str = "",
    pin_version: bool = True,
    model_format: str = "tensorflow",
    annotations: Optional[dict[str, str]] = None,
    container: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """Builds the manifest.

    Args:
        name: The service name (the registry's model name).
        model_uri: ``<base>/<model>`` in the registry.
        version: The version to serve.
        namespace: Kubernetes namespace; empty leaves it out (kubectl's current one).
        pin_version: Serve exactly ``version`` (see the module docstring).
        model_format: KServe model format (``tensorflow`` for a SavedModel).
        annotations: Extra annotations.
        container: A custom predictor container (:func:`predictor_container`) that
            replaces the runtime chosen by ``model_format`` and the storage fields.

    Returns:
        The manifest as a dict.
    """
    version_uri = f"{model_uri.rstrip('/')}/{int(version)}"
    model: dict[str, Any] = {"modelFormat": {"name": model_format}}
    if pin_version:
        model["storageUris"] = [{"uri": version_uri, "path": f"{MOUNT_ROOT}/{int(version)}"}]
    else:
        model["storageUri"] = model_uri.rstrip("/")
    if container is not None:
        annotations = {**SCRAPE_ANNOTATIONS, **(annotations or {})}
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/managed-by": "greenkfp"},
        "annotations": {
            "greenkfp.dev/model-version": str(int(version)),
            "greenkfp.dev/version-uri": version_uri,
            **(annotations or {}),
        },
    }
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": f"{GROUP}/{API_VERSION}",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": {"containers": [container]} if container else {"model": model}},
    }


def to_yaml(manifest: dict[str, Any]) -> str:
    """Serializes a manifest as YAML (keys in the order built)."""
    import yaml

    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)


def in_cluster() -> bool:
    """Tells whether this process runs in a Kubernetes pod (a service host is set)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def pod_namespace(default: str = "default") -> str:
    """Returns the namespace of the pod this runs in, from its service account."""
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE) as f:
            return f.read().strip() or default
    except OSError:
        return default


def check_can_apply(registry_uri: str) -> None:
    """Raises before any work when ``apply=True`` cannot succeed here.

    Raises:
        InputError: Outside a cluster, or with a local registry path KServe cannot read.
    """
    if not in_cluster():
        raise InputError(
            "apply=True needs a Kubernetes cluster (KUBERNETES_SERVICE_HOST is not set); "
            "run with apply=False here and apply the inference_service YAML with kubectl"
        )
    if "://" not in registry_uri or registry_uri.startswith("file://"):
        raise InputError(
            f"apply=True needs a registry KServe can read (gs://, s3://, pvc://); "
            f"{registry_uri!r} is a local path"
        )


def apply(manifest: dict[str, Any], api: Any = None) -> str:
    """Creates the InferenceService, or patches it when it exists.

    Args:
        manifest: From :func:`inference_service`; its namespace is filled from the pod's
            when missing.
        api: A ``kubernetes.client.CustomObjectsApi``; default uses the in-cluster config.

    Returns:
        ``"created"`` or ``"patched"``.
    """
    if api is None:
        from kubernetes import client, config

        config.load_incluster_config()
        api = client.CustomObjectsApi()
    metadata = manifest["metadata"]
    namespace = metadata.get("namespace") or pod_namespace()
    body = {**manifest, "metadata": {**metadata, "namespace": namespace}}
    try:
        api.create_namespaced_custom_object(GROUP, API_VERSION, namespace, PLURAL, body)
        return "created"
    except Exception as err:  # kubernetes.client.ApiException; 409 means it exists
        if getattr(err, "status", None) != 409:
            raise
    # A JSON merge patch: null removes the storage field of the other mode, and the
    # runtime model or the custom container that the other format used.
    predictor = dict(body["spec"]["predictor"])
    if "model" in predictor:
        model = dict(predictor["model"])
        model.setdefault("storageUri", None)
        model.setdefault("storageUris", None)
        predictor = {"model": model, "containers": None}
    else:
        predictor["model"] = None
    patch = {**body, "spec": {"predictor": predictor}}
    api.patch_namespaced_custom_object(
        GROUP, API_VERSION, namespace, PLURAL, metadata["name"], patch
    )
    return "patched"
