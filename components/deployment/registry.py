"""A versioned model registry on a local path or ``gs://``, in the layout TF Serving reads.

Layout::

    <base>/<model>/
      LIVE                   the live version's number (one line), replaced atomically
      1/ 2/ 3/ ...           published versions; a version counts only with its _COMPLETE
        saved_model.pb, variables/, ...   the SavedModel at the root (TF Serving's layout)
        *.tflite, compressed_model.json   the compressed model, when there is one
        blessing.json, metrics.json, model_card.md, inferenceservice.yaml
        _COMPLETE            written last: JSON with the version and every file's SHA-256
      .staging/              pushes in progress, reservations, locks (never read as versions)

Pushing (:meth:`Registry.push`) goes through named stages (:data:`STAGES`):

1. ``reserved``: the version number is taken with an exclusive create of
   ``.staging/<N>.reserved`` (``O_CREAT | O_EXCL`` locally); ``N`` is one more than every
   version published, reserved or present, so numbers only grow and two pushes never
   share one. A crashed push's number stays reserved and is skipped; a push that fails
   with an error removes what it wrote and releases its number (nothing with it was
   ever visible).
2. ``copying`` (after the first file), ``staged``: the model files go to
   ``.staging/<N>-<uuid>/`` locally; on object stores, straight to ``<N>/`` (invisible
   without ``_COMPLETE``).
3. ``verified``: the caller's check ran on the written bytes (canary predictions).
4. ``marked``: the caller's extra files (model card, metrics, ...), then ``_COMPLETE``.
5. ``published``: locally, ``os.rename`` of the staged folder to ``<N>/`` (atomic); on
   object stores the marker was the publication.
6. ``live_written``: a temporary LIVE written (locally). 7. ``live``: LIVE replaced
   (``os.replace`` locally; one object write on GCS, where a write is atomic).

A crash at any stage leaves every visible version complete and LIVE naming a complete
version (the previous one until stage 7). LIVE only moves forward on a push: a push
whose version is older than LIVE (a concurrent, newer push won) publishes without
moving it. Locally, LIVE updates are serialized with ``fcntl.flock``; rollback moves
LIVE to any complete version.

Setting ``GREENKFP_REGISTRY_CRASH_AT=<stage>`` makes the process SIGKILL itself at that
stage; the crash tests use it.

This module imports no KFP and no TensorFlow (``tf.io.gfile`` only for non-local URIs).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from greenkfp.components._shared.errors import InputError

LIVE_FILE = "LIVE"
COMPLETE_MARKER = "_COMPLETE"
STAGING_DIR = ".staging"
RESERVATION_SUFFIX = ".reserved"
LOCK_FILE = ".live.lock"
METRICS_FILE = "metrics.json"
SAVED_MODEL_DIRNAME = "saved_model"
SAVED_MODEL_PB = "saved_model.pb"
CRASH_ENV = "GREENKFP_REGISTRY_CRASH_AT"

#: The stages of a push, in order; see the module docstring.
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

# An InferenceService name: a DNS-1035 label (lower case, starts with a letter).
_MODEL_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_VERSION = re.compile(r"^[0-9]+$")

Verifier = Callable[[str], None]


class RegistryError(InputError):
    """The registry cannot be written or read as asked (the message names the URI)."""


def crash_point(stage: str) -> None:
    """Kills the process with SIGKILL when ``GREENKFP_REGISTRY_CRASH_AT`` names this stage."""
    if os.environ.get(CRASH_ENV) == stage:
        os.kill(os.getpid(), signal.SIGKILL)


def validate_model_name(name: str) -> str:
    """Returns the name when it can be a folder and an InferenceService name, else raises."""
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        raise InputError(
            f"model name {name!r} is not valid: use lower-case letters, digits and '-', "
            "starting with a letter (at most 63 characters; it names the InferenceService)"
        )
    return name


def is_local(uri: str) -> bool:
    """Tells whether a URI is a local path (no scheme, or ``file://``)."""
    return "://" not in uri or uri.startswith("file://")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- storage


class _Store:
    """File operations on local paths (``os``)."""

    local = True

    def join(self, *parts: str) -> str:
        return os.path.join(*parts)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path) if os.path.isdir(path) else []

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def read_bytes(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def write_bytes(self, path: str, data: bytes) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def copy_in(self, local_source: str, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(local_source, path)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True

    def remove(self, path: str) -> None:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)

    def download(self, path: str, local_dir: str) -> None:
        shutil.copytree(path, local_dir, dirs_exist_ok=True)

    @contextlib.contextmanager
    def lock(self, path: str) -> Iterator[None]:
        import fcntl

        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def replace_atomically(self, path: str, data: bytes) -> None:
        folder = os.path.dirname(path)
        tmp = os.path.join(folder, STAGING_DIR, f"{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
        self.write_bytes(tmp, data)
        crash_point("live_written")
        os.replace(tmp, path)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class _GFileStore(_Store):
    """File operations on object stores through ``tf.io.gfile`` (``gs://``, ``ram://``)."""

    local = False

    def __init__(self) -> None:
        import tensorflow as tf

        self.gfile = tf.io.gfile

    def join(self, *parts: str) -> str:
        return "/".join(p.rstrip("/") for p in parts)

    def exists(self, path: str) -> bool:
        return self.gfile.exists(path)

    def isdir(self, path: str) -> bool:
        return self.gfile.isdir(path)

    def listdir(self, path: str) -> list[str]:
        if not self.gfile.isdir(path):
            return []
        return [name.rstrip("/") for name in self.gfile.listdir(path)]

    def makedirs(self, path: str) -> None:
        self.gfile.makedirs(path)

    def read_bytes(self, path: str) -> bytes:
        with self.gfile.GFile(path, "rb") as f:
            return f.read()

    def _parent(self, path: str) -> None:
        # Some file systems (ram://) list only folders made explicitly.
        self.gfile.makedirs(path.rsplit("/", 1)[0])

    def write_bytes(self, path: str, data: bytes) -> None:
        self._parent(path)
        if path.startswith("ram://") and self.gfile.exists(path):
            self.gfile.remove(path)  # TF's in-memory test file system appends otherwise
        with self.gfile.GFile(path, "wb") as f:
            f.write(data)

    def copy_in(self, local_source: str, path: str) -> None:
        self._parent(path)
        self.gfile.copy(local_source, path, overwrite=True)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        if path.startswith("gs://"):
            created = _gcs_create_if_absent(path, data)
            if created is not None:
                return created
        # No exclusive create through tf.io.gfile: check, then write (see the README).
        if self.gfile.exists(path):
            return False
        self.write_bytes(path, data)
        return True

    def remove(self, path: str) -> None:
        if not self.gfile.isdir(path):
            if self.gfile.exists(path):
                self.gfile.remove(path)
            return
        try:
            self.gfile.rmtree(path)
        except Exception:  # some file systems (ram://) lack a recursive delete
            for root, _, files in self.gfile.walk(path):
                for name in files:
                    self.gfile.remove(self.join(root, name))

    def download(self, path: str, local_dir: str) -> None:
        for root, _, files in self.gfile.walk(path):
            rel = root[len(path) :].strip("/")
            os.makedirs(os.path.join(local_dir, rel), exist_ok=True)
            for name in files:
                self.gfile.copy(
                    self.join(root, name), os.path.join(local_dir, rel, name), overwrite=True
                )

    @contextlib.contextmanager
    def lock(self, path: str) -> Iterator[None]:
        yield  # object stores: no lock; see the README

    def replace_atomically(self, path: str, data: bytes) -> None:
        crash_point("live_written")
        self.write_bytes(path, data)  # one object write: readers see the old or the new


def _gcs_create_if_absent(uri: str, data: bytes) -> Optional[bool]:
    """Creates a GCS object only if absent (generation precondition 0).

    Returns:
        True when created, False when it already existed, None when the GCS client
        library is not installed (the caller falls back to check-then-write).
    """
    try:
        from google.api_core import exceptions
        from google.cloud import storage
    except ImportError:
        return None
    bucket, _, name = uri[len("gs://") :].partition("/")
    blob = storage.Client().bucket(bucket).blob(name)
    try:
        blob.upload_from_string(data, if_generation_match=0)
    except exceptions.PreconditionFailed:
        return False
    return True


# ----------------------------------------------------------------------------- registry


@dataclass
class VersionInfo:
    """A complete version of a model."""

    version: int
    uri: str
    live: bool
    completed_at: str = ""
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class PushResult:
    """What a push did."""

    version: int
    uri: str
    live: bool
    previous_live: Optional[int]
    live_version: Optional[int]


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


def _write_order(rel: str) -> tuple[int, str]:
    # The SavedModel's graph goes last, so TF Serving polling the folder (it knows no
    # marker) never finds a saved_model.pb whose variables are not there yet.
    return (1 if rel == SAVED_MODEL_PB else 0, rel)


class Registry:
    """A registry at a base URI (local path, ``file://``, ``gs://`` or other gfile scheme)."""

    def __init__(self, base_uri: str) -> None:
        if not base_uri or not str(base_uri).strip():
            raise InputError("registry URI is empty")
        base = str(base_uri)
        if base.startswith("file://"):
            base = base[len("file://") :]
        self.base_uri = base.rstrip("/") or "/"
        self.store = _Store() if is_local(base) else _GFileStore()

    # -- paths

    def model_uri(self, model: str) -> str:
        """Returns ``<base>/<model>``."""
        return self.store.join(self.base_uri, validate_model_name(model))

    def version_uri(self, model: str, version: int) -> str:
        """Returns ``<base>/<model>/<version>``."""
        return self.store.join(self.model_uri(model), str(int(version)))

    def _staging(self, model: str) -> str:
        return self.store.join(self.model_uri(model), STAGING_DIR)

    # -- reading

    def models(self) -> list[str]:
        """Returns the names of models with at least one complete version, sorted."""
        names = []
        for name in sorted(self.store.listdir(self.base_uri)):
            if _MODEL_NAME.match(name) and self.versions(name):
                names.append(name)
        return names

    def _numbered(self, model: str) -> list[int]:
        """Every numbered entry under the model, complete or not."""
        return sorted(
            int(n) for n in self.store.listdir(self.model_uri(model)) if _VERSION.match(n)
        )

    def is_complete(self, model: str, version: int) -> bool:
        """Tells whether a version holds its completion marker."""
        return self.store.exists(self.store.join(self.version_uri(model, version), COMPLETE_MARKER))

    def versions(self, model: str) -> list[VersionInfo]:
        """Returns the complete versions of a model, oldest first."""
        live = self.live_version(model, check=False)
        found = []
        for version in self._numbered(model):
            marker = self.store.join(self.version_uri(model, version), COMPLETE_MARKER)
            if not self.store.exists(marker):
                continue
            try:
                record = json.loads(self.store.read_bytes(marker))
            except (ValueError, OSError):
                record = {}
            found.append(
                VersionInfo(
                    version=version,
                    uri=self.version_uri(model, version),
                    live=version == live,
                    completed_at=str(record.get("completed_at", "")),
                    files=dict(record.get("files", {})),
                )
            )
        return found

    def live_version(self, model: str, check: bool = True) -> Optional[int]:
        """Returns the live version, or None when nothing is live.

        Args:
            model: The model name.
            check: Raise when LIVE is unreadable or names an incomplete version.
        """
        path = self.store.join(self.model_uri(model), LIVE_FILE)
        if not self.store.exists(path):
            return None
        text = self.store.read_bytes(path).decode("utf-8", "replace").strip()
        if not _VERSION.match(text):
            if check:
                raise RegistryError(f"{path} holds {text[:40]!r}, not a version number")
            return None
        version = int(text)
        if check and not self.is_complete(model, version):
            raise RegistryError(f"{path} names version {version}, which is not complete")
        return version

    def read_file(self, model: str, version: int, name: str) -> bytes:
        """Reads a file of a complete version."""
        if not self.is_complete(model, version):
            raise RegistryError(f"{self.version_uri(model, version)} is not a complete version")
        path = self.store.join(self.version_uri(model, version), name)
        if not self.store.exists(path):
            raise RegistryError(f"{path} does not exist")
        return self.store.read_bytes(path)

    def read_metrics(self, model: str, version: int) -> dict[str, Any]:
        """Reads a version's ``metrics.json``."""
        data = self.read_file(model, version, METRICS_FILE)
        try:
            return json.loads(data)
        except ValueError as err:
            raise RegistryError(
                f"{self.version_uri(model, version)}/{METRICS_FILE} is not JSON: {err}"
            ) from err

    def abandoned(self, model: str) -> list[str]:
        """Returns leftovers of pushes that failed or crashed (staged folders), sorted."""
        return sorted(
            n
            for n in self.store.listdir(self._staging(model))
            if not n.endswith((RESERVATION_SUFFIX, ".tmp")) and n != LOCK_FILE
        )

    # -- writing

    def _prepare(self, model: str) -> None:
        try:
            self.store.makedirs(self._staging(model))
        except Exception as err:  # OSError locally; tf.errors.OpError through gfile
            raise RegistryError(
                f"registry {self.base_uri} is not writable: cannot create "
                f"{self._staging(model)}: {err}"
            ) from err

    def _reserve(self, model: str) -> int:
        staging = self._staging(model)
        reserved = [
            int(n[: -len(RESERVATION_SUFFIX)])
            for n in self.store.listdir(staging)
            if n.endswith(RESERVATION_SUFFIX) and _VERSION.match(n[: -len(RESERVATION_SUFFIX)])
        ]
        candidate = max([0, *self._numbered(model), *reserved]) + 1
        claim = json.dumps({"pid": os.getpid(), "at": _now(), "id": uuid.uuid4().hex}).encode()
        for _ in range(10_000):
            path = self.store.join(staging, f"{candidate}{RESERVATION_SUFFIX}")
            if self.store.create_exclusive(path, claim) and not self.store.exists(
                self.version_uri(model, candidate)
            ):
                return candidate
            candidate += 1
        raise RegistryError(f"could not reserve a version under {self.model_uri(model)}")

    def _release(self, model: str, version: int) -> None:
        path = self.store.join(self._staging(model), f"{version}{RESERVATION_SUFFIX}")
        with contextlib.suppress(Exception):
            self.store.remove(path)

    @contextlib.contextmanager
    def _local_copy(self, path: str) -> Iterator[str]:
        if self.store.local:
            yield path
            return
        with tempfile.TemporaryDirectory(prefix="greenkfp-verify-") as tmp:
            self.store.download(path, tmp)
            yield tmp

    def push(
        self,
        model: str,
        files: Sequence[tuple[str, str]],
        extra_files: Callable[[int, str], Mapping[str, bytes]] = lambda version, uri: {},
        verify: Optional[Verifier] = None,
        make_live: bool = True,
    ) -> PushResult:
        """Publishes a new version atomically, verifies it, then moves LIVE forward.

        Args:
            model: The model name.
            files: ``(local source, path in the version)`` pairs, e.g. from
                :func:`version_layout`.
            extra_files: Called after ``verify`` with the reserved version and its URI;
                returns more files (name -> bytes) such as the model card, which names
                the version and the canary result.
            verify: Called with a local folder holding the written model files before
                the version is published; raising rejects the push (nothing becomes
                visible).
            make_live: Move LIVE to the new version (unless a newer one is live).

        Returns:
            The version, its URI and whether it went live.

        Raises:
            RegistryError: The registry is not writable.
            Exception: Whatever ``verify`` raised; the staged files are removed first.
        """
        validate_model_name(model)
        if not files:
            raise InputError("nothing to push: the file list is empty")
        self._prepare(model)
        version = self._reserve(model)
        crash_point("reserved")
        final = self.version_uri(model, version)
        staged = (
            self.store.join(self._staging(model), f"{version}-{uuid.uuid4().hex[:12]}")
            if self.store.local
            else final
        )
        try:
            hashes = self._write_files(staged, files)
            crash_point("staged")
            if verify is not None:
                with self._local_copy(staged) as local:
                    verify(local)
            crash_point("verified")
            hashes.update(self._write_extras(staged, extra_files(version, final), hashes))
            marker = {"version": version, "completed_at": _now(), "files": hashes}
            self.store.write_bytes(
                self.store.join(staged, COMPLETE_MARKER),
                json.dumps(marker, indent=2, sort_keys=True).encode(),
            )
            crash_point("marked")
            if self.store.local:
                if os.path.exists(final):
                    raise RegistryError(f"{final} exists although version {version} was reserved")
                os.rename(staged, final)
        except BaseException:
            with contextlib.suppress(Exception):  # the original error matters more
                self.store.remove(staged)
            self._release(model, version)
            raise
        crash_point("published")
        self._release(model, version)
        live, previous = False, None
        with self.store.lock(self.store.join(self._staging(model), LOCK_FILE)):
            previous = self.live_version(model, check=False)
            if make_live and (previous is None or previous < version):
                self._write_live(model, version)
                live = True
        crash_point("live")
        return PushResult(
            version=version,
            uri=final,
            live=live,
            previous_live=previous,
            live_version=version if live else previous,
        )

    def _write_files(self, target: str, files: Sequence[tuple[str, str]]) -> dict[str, str]:
        hashes: dict[str, str] = {}
        for i, (source, rel) in enumerate(sorted(files, key=lambda f: _write_order(f[1]))):
            self.store.copy_in(source, self.store.join(target, *rel.split("/")))
            hashes[rel] = _sha256(source)
            if i == 0:
                crash_point("copying")
        return hashes

    def _write_extras(
        self, target: str, extras: Mapping[str, bytes], written: Mapping[str, str]
    ) -> dict[str, str]:
        clash = sorted(set(extras) & (set(written) | {COMPLETE_MARKER}))
        if clash:
            raise InputError(f"files {clash} are both in the model and added by the push")
        hashes = {}
        for name, data in sorted(extras.items()):
            self.store.write_bytes(self.store.join(target, name), data)
            hashes[name] = hashlib.sha256(data).hexdigest()
        return hashes

    def _write_live(self, model: str, version: int) -> None:
        path = self.store.join(self.model_uri(model), LIVE_FILE)
        self.store.replace_atomically(path, f"{version}\n".encode())

    def set_live(self, model: str, version: int) -> Optional[int]:
        """Makes a complete version live (atomically); returns the version live before."""
        if not self.is_complete(model, version):
            known = [v.version for v in self.versions(model)]
            raise RegistryError(
                f"{self.model_uri(model)} has no complete version {version}; versions: {known}"
            )
        self._prepare(model)
        with self.store.lock(self.store.join(self._staging(model), LOCK_FILE)):
            previous = self.live_version(model, check=False)
            self._write_live(model, version)
        return previous

    def rollback(self, model: str, to: Optional[int] = None) -> tuple[Optional[int], int]:
        """Moves LIVE to the given version, or to the newest complete one before LIVE.

        Returns:
            ``(version live before, version live now)``.
        """
        versions = [v.version for v in self.versions(model)]
        if not versions:
            raise RegistryError(f"{self.model_uri(model)} has no complete version")
        if to is None:
            current = self.live_version(model)
            if current is None:
                raise RegistryError(f"nothing is live for {self.model_uri(model)}; give --to")
            older = [v for v in versions if v < current]
            if not older:
                raise RegistryError(
                    f"version {current} is the oldest complete version of "
                    f"{self.model_uri(model)}; nothing to roll back to"
                )
            to = older[-1]
        previous = self.set_live(model, to)
        return previous, to
