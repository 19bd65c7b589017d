"""Reading and writing files by URI: local paths directly, other schemes through tf.io.gfile.

TensorFlow is imported only for non-local URIs (``gs://``, ``s3://``, ...), so local
work does not pay its import time.
"""

from __future__ import annotations

import hashlib
import os
from typing import IO, TYPE_CHECKING

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


def exists(uri: str) -> bool:
    """Tells whether a file exists at a URI."""
    if is_local(uri):
        return os.path.exists(_local_path(uri))
    import tensorflow as tf

    return tf.io.gfile.exists(uri)


def open_uri(uri: str, mode: str = "r") -> IO:
    """Opens a local path or a ``gs://``-style URI."""
    if is_local(uri):
        path = _local_path(uri)
        if "w" in mode:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return open(path, mode)
    import tensorflow as tf

    return tf.io.gfile.GFile(uri, mode)


def read_bytes(uri: str) -> bytes:
    """Reads a whole file, raising :class:`InputError` when it is missing."""
    if not exists(uri):
        raise InputError(f"file not found: {uri}")
    with open_uri(uri, "rb") as f:
        return f.read()


def sha256_of(uri: str) -> str:
    """Returns the SHA-256 hex digest of a file, for lineage records."""
    return hashlib.sha256(read_bytes(uri)).hexdigest()


def read_dataset(path: str) -> pd.DataFrame:
    """Reads a dataset written by :func:`write_dataset` (empty cells are missing)."""
    import pandas as pd

    if not exists(path):
        raise InputError(f"dataset not found: {path}")
    with open_uri(path, "r") as f:
        return pd.read_csv(f, keep_default_na=False, na_values=[""])


def write_dataset(df: pd.DataFrame, path: str) -> None:
    """Writes the canonical dataset format: comma-separated, header, empty = missing."""
    with open_uri(path, "w") as f:
        df.to_csv(f, index=False)
