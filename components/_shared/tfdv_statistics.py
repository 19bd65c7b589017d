"""Reading the TFDV statistics that data validation writes and the registry keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import statistics_pb2


def load_statistics(path: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Loads a ``DatasetFeatureStatisticsList`` binary proto.

    Raises:
        InputError: When the file is not such a proto or holds no dataset (the message
            names the file).
    """
    from google.protobuf.message import DecodeError
    from tensorflow_metadata.proto.v0 import statistics_pb2

    data = uri_io.read_bytes(path)
    try:
        stats = statistics_pb2.DatasetFeatureStatisticsList.FromString(data)
    except DecodeError as e:
        raise InputError(f"cannot read statistics at {path}: {e}") from e
    if not stats.datasets:
        raise InputError(f"statistics at {path} hold no dataset")
    return stats
