"""The model registry's layout on storage, and the few writes that must be atomic.

Layout::

    <base>/<model>/
      LIVE                   the live version's number (one line), replaced atomically
      1/ 2/ 3/ ...           published versions; a version counts only with its _COMPLETE
        serving.json           the served artifact and its format (tflite_pair, saved_model)
        saved_model.pb, variables/, ...   a trained model's SavedModel at the root (TF
                             Serving's layout); a compressed model's is not pushed
        *.tflite, compressed_model.json   the compressed model, when there is one
        blessing.json, metrics.json, model_card.md, inferenceservice.yaml
        train_statistics.pb, schema.pbtxt, drift_reference.csv, pipeline_energy.json
                             what a later run judges new data against (when given)
        _COMPLETE            written last: JSON with the version and every file's SHA-256
      .staging/              pushes in progress, reservations, locks (never read as versions)
      .retired/<N>/          retired versions (never served, never offered to rollback)
      AUDIT.jsonl            the hash-chained audit log (push, rollback, retire)

The names a reader needs (LIVE, the marker, the files a version keeps) and reading
itself are in :mod:`greenkfp.components._shared.registry_reading`. Files are read and
written through :mod:`greenkfp.components._shared.io` (local paths directly, other
schemes through ``tf.io.gfile``). What writing the registry adds is here: the plan of
a version's files, the LIVE lock (``fcntl.flock`` locally; object stores have none)
and the atomic LIVE update. The push itself, with its stages, is in
:mod:`greenkfp.components.deployment.registry`.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import uuid
from typing import Iterator

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_artifact import SAVED_MODEL_DIRNAME, SAVED_MODEL_PB
from greenkfp.components._shared.registry_reading import COMPLETE_MARKER, LIVE_FILE

STAGING_DIR = ".staging"
RETIRED_DIR = ".retired"
RESERVATION_SUFFIX = ".reserved"
LOCK_FILE = ".live.lock"
CRASH_ENV = "GREENKFP_REGISTRY_CRASH_AT"

#: The stages of a push, in order; see :mod:`greenkfp.components.deployment.registry`.
STAGES = (
    "reserved",
    "copying",
    "staged",
    "verified",
    "marked",
    "published",
    "live_written",
    "live",
)


def crash_point(stage: str) -> None:
    """Kills the process with SIGKILL when ``GREENKFP_REGISTRY_CRASH_AT`` names this stage."""
    if os.environ.get(CRASH_ENV) == stage:
        os.kill(os.getpid(), signal.SIGKILL)


def now() -> str:
    """The UTC time as the registry records it (ISO 8601, seconds)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def version_layout(model_dir: str) -> list[tuple[str, str]]:
    """Plans a model artifact's files in a version folder: ``(local source, relative path)``.

    The SavedModel (``saved_model/`` in a ``train_model`` or ``compress_model`` output) is
    lifted to the version root, where TF Serving reads it; every other file keeps its
    relative path (the compressed model's ``compressed_model.json`` and ``.tflite``).

    Raises:
        InputError: When the folder is missing or empty, or two files would collide.
    """
    if not os.path.isdir(model_dir):
        raise InputError(f"model folder {model_dir} does not exist")
    planned: dict[str, str] = {}
    for root, dirs, files in os.walk(model_dir):
        dirs.sort()
        for name in sorted(files):
            source = os.path.join(root, name)
            rel = os.path.relpath(source, model_dir).replace(os.sep, "/")
            if rel.startswith(SAVED_MODEL_DIRNAME + "/"):
                rel = rel[len(SAVED_MODEL_DIRNAME) + 1 :]
            if rel in planned or rel == COMPLETE_MARKER:
                raise InputError(
                    f"model folder {model_dir}: {rel} would be written twice in the version "
                    f"(a file beside {SAVED_MODEL_DIRNAME}/ has the name of one inside it)"
                )
            planned[rel] = source
    if not planned:
        raise InputError(f"model folder {model_dir} is empty")
    return [(source, rel) for rel, source in planned.items()]


def write_order(rel: str) -> tuple[int, str]:
    """Sort key of a version's files: the SavedModel's graph goes last.

    TF Serving polling the folder (it knows no marker) then never finds a
    ``saved_model.pb`` whose variables are not there yet.
    """
    return (1 if rel == SAVED_MODEL_PB else 0, rel)


@contextlib.contextmanager
def live_lock(model_uri: str) -> Iterator[None]:
    """Serializes LIVE updates of a model: ``fcntl.flock`` locally, no lock on object stores.

    Object stores offer no lock through ``tf.io.gfile``; there a LIVE update is one
    object write, and concurrent pushes may race (see the deployment README).
    """
    if not uri_io.is_local(model_uri):
        yield
        return
    import fcntl

    path = uri_io.join(model_uri, STAGING_DIR, LOCK_FILE)
    uri_io.makedirs(os.path.dirname(path))
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def write_live(model_uri: str, version: int) -> None:
    """Points a model's LIVE at a version, atomically.

    Locally a temporary file in ``.staging/`` replaces LIVE (``os.replace``); on an
    object store one write replaces the object, and readers see the old or the new.
    """
    path = uri_io.join(model_uri, LIVE_FILE)
    data = f"{version}\n".encode()
    if not uri_io.is_local(model_uri):
        crash_point("live_written")
        uri_io.write_bytes(path, data)
        return
    tmp = uri_io.join(model_uri, STAGING_DIR, f"{LIVE_FILE}.{uuid.uuid4().hex}.tmp")
    uri_io.write_bytes(tmp, data)
    crash_point("live_written")
    uri_io.rename(tmp, path)
