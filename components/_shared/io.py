"""Reading and writing files by URI: local paths directly, other schemes through tf.io.gfile.

TensorFlow is imported only for non-local URIs (``gs://``, ``s3://``, ``ram://``, ...),
so local work does not pay its import time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator, Optional

from greenkfp.components._shared.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

# Strings that mean "missing" in the CSV files users bring, unless told otherwise.
DEFAULT_MISSING_VALUES = ["", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]


def is_local(uri: str) -> bool:
    """Tells whether a URI names a local file (no ``scheme://`` prefix)."""
    return "://" not in uri or uri.startswith("file://")


def _local_path(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def _gfile() -> Any:
    import tensorflow as tf

    return tf.io.gfile


def join(uri: str, *parts: str) -> str:
    """Joins path parts onto a local path or a URI (``/`` between the parts of a URI)."""
    if is_local(uri):
        return os.path.join(uri, *parts)
    return "/".join(part.rstrip("/") for part in (uri, *parts))


def exists(uri: str) -> bool:
    """Tells whether a file or folder exists at a URI."""
    if is_local(uri):
        return os.path.exists(_local_path(uri))
    return _gfile().exists(uri)


def isdir(uri: str) -> bool:
    """Tells whether a folder exists at a URI."""
    if is_local(uri):
        return os.path.isdir(_local_path(uri))
    return _gfile().isdir(uri)


def listdir(uri: str) -> list[str]:
    """Returns the names in a folder (no trailing ``/``); empty when it is not a folder."""
    if not isdir(uri):
        return []
    if is_local(uri):
        return os.listdir(_local_path(uri))
    return [name.rstrip("/") for name in _gfile().listdir(uri)]


def makedirs(uri: str) -> None:
    """Creates a folder and its parents; nothing when it exists."""
    if is_local(uri):
        os.makedirs(_local_path(uri), exist_ok=True)
    else:
        _gfile().makedirs(uri)


def _parent(uri: str) -> str:
    if is_local(uri):
        return os.path.dirname(os.path.abspath(_local_path(uri)))
    return uri.rsplit("/", 1)[0]


def open_uri(uri: str, mode: str = "r") -> IO:
    """Opens a local path or a ``gs://``-style URI."""
    if is_local(uri):
        if "w" in mode:
            makedirs(_parent(uri))
        return open(_local_path(uri), mode)
    return _gfile().GFile(uri, mode)


def read_bytes(uri: str) -> bytes:
    """Reads a whole file, raising :class:`InputError` when it is missing."""
    if not exists(uri):
        raise InputError(f"file not found: {uri}")
    with open_uri(uri, "rb") as f:
        return f.read()


def sha256_of(uri: str) -> str:
    """Returns the SHA-256 hex digest of a file (read in blocks), for lineage records."""
    if not exists(uri):
        raise InputError(f"file not found: {uri}")
    digest = hashlib.sha256()
    with open_uri(uri, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _replaced_whole(uri: str, mode: str) -> Iterator[IO]:
    """Opens a temporary file beside a local ``uri`` that replaces it once written and synced.

    A process stopped while writing (SIGTERM, a full disk) leaves the old file or none,
    never half of one; the temporary file is removed on an exception.
    """
    path = _local_path(uri)
    makedirs(_parent(uri))
    temporary = f"{path}.{uuid.uuid4().hex}.tmp"
    try:
        with open(temporary, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def write_bytes(uri: str, data: bytes) -> None:
    """Writes a whole file, creating its folder; a local file is synced and replaced whole."""
    if is_local(uri):
        with _replaced_whole(uri, "wb") as f:
            f.write(data)
        return
    gfile = _gfile()
    gfile.makedirs(_parent(uri))  # some file systems (ram://) list only folders made so
    if uri.startswith("ram://") and gfile.exists(uri):
        gfile.remove(uri)  # TF's in-memory test file system appends otherwise
    with gfile.GFile(uri, "wb") as f:
        f.write(data)


def copy_file(source: str, uri: str) -> None:
    """Copies a file to a URI (either may be local), creating the target's folder."""
    makedirs(_parent(uri))
    if is_local(source) and is_local(uri):
        shutil.copyfile(_local_path(source), _local_path(uri))
    else:
        _gfile().copy(source, uri, overwrite=True)


def download(uri: str, local_dir: str) -> None:
    """Copies a folder and everything below it into a local folder."""
    if is_local(uri):
        shutil.copytree(_local_path(uri), local_dir, dirs_exist_ok=True)
        return
    gfile = _gfile()
    for root, _, files in gfile.walk(uri):
        rel = root[len(uri) :].strip("/")
        os.makedirs(os.path.join(local_dir, rel), exist_ok=True)
        for name in files:
            gfile.copy(join(root, name), os.path.join(local_dir, rel, name), overwrite=True)


def create_exclusive(uri: str, data: bytes) -> bool:
    """Creates a file only if none exists there; returns whether this call created it.

    Locally ``O_CREAT | O_EXCL``; on ``gs://`` a generation precondition when the GCS
    client library is installed. Other schemes have no exclusive create through
    ``tf.io.gfile``: there it is check-then-write, so two writers can both succeed.
    """
    if is_local(uri):
        try:
            fd = os.open(_local_path(uri), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True
    if uri.startswith("gs://"):
        created = _gcs_create_if_absent(uri, data)
        if created is not None:
            return created
    if exists(uri):
        return False
    write_bytes(uri, data)
    return True


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


def rename(source: str, target: str) -> None:
    """Renames a file or folder, replacing a file (or an empty folder) at the target.

    Locally this is ``os.replace`` followed by a sync of the folder, so the new name is
    atomic and durable. Through ``tf.io.gfile`` it is not atomic on object stores (a
    copy, then a delete): callers that need atomicity there publish by a marker instead.
    """
    if is_local(source) and is_local(target):
        os.replace(_local_path(source), _local_path(target))
        folder = os.open(_parent(target), os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    else:
        _gfile().rename(source, target, overwrite=True)


def remove(uri: str) -> None:
    """Deletes a file, or a folder with everything below it; nothing when it is absent."""
    if is_local(uri):
        path = _local_path(uri)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)
        return
    gfile = _gfile()
    if not gfile.isdir(uri):
        if gfile.exists(uri):
            gfile.remove(uri)
        return
    try:
        gfile.rmtree(uri)
    except Exception:  # some file systems (ram://) lack a recursive delete
        for root, _, files in gfile.walk(uri):
            for name in files:
                gfile.remove(join(root, name))


def read_dataset(path: str) -> pd.DataFrame:
    """Reads a dataset written by :func:`write_dataset` (empty cells are missing)."""
    import pandas as pd

    if not exists(path):
        raise InputError(f"dataset not found: {path}")
    with open_uri(path, "r") as f:
        return pd.read_csv(f, keep_default_na=False, na_values=[""])


def write_dataset(df: pd.DataFrame, path: str) -> None:
    """Writes the canonical dataset format: comma-separated, header, empty = missing.

    A local dataset is replaced whole (see :func:`write_bytes`).
    """
    with _replaced_whole(path, "w") if is_local(path) else open_uri(path, "w") as f:
        df.to_csv(f, index=False)


@contextlib.contextmanager
def dataset_writer(path: str) -> Iterator[Callable[[pd.DataFrame], None]]:
    """Writes a dataset as :func:`write_dataset` does, a chunk of rows at a time.

    Yields:
        A function to call with each chunk, in order; the header comes with the first.
        A local dataset is replaced whole once all chunks are written.
    """
    with _replaced_whole(path, "w") if is_local(path) else open_uri(path, "w") as f:
        header = [True]

        def write(chunk: pd.DataFrame) -> None:
            chunk.to_csv(f, index=False, header=header[0])
            header[0] = False

        yield write
