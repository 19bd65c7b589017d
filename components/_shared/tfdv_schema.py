"""Reading the TFDV schema that data validation writes and training reads its features from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError

if TYPE_CHECKING:
    from tensorflow_metadata.proto.v0 import schema_pb2


def load_schema(path: str) -> schema_pb2.Schema:
    """Loads a text-proto schema, raising :class:`InputError` when it cannot be read."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    text = uri_io.read_bytes(path).decode("utf-8", errors="replace")
    try:
        schema = text_format.Parse(text, schema_pb2.Schema())
    except text_format.ParseError as e:
        raise InputError(f"cannot read schema at {path}: {e}") from e
    if not schema.feature:
        raise InputError(f"schema at {path} has no features")
    return schema
