"""Request bodies of the Open Inference Protocol v2 and KServe v1 to raw rows, and answers.

v2 (``POST /v2/models/NAME/infer``): one input tensor per raw feature, shape ``[n]``,
``BYTES`` for string features, ``FP32``/``FP64``/``INT*`` for numeric ones (``null`` is a
missing value). Integer categories may come as ``INT*`` too: the model turns them into
the same strings the pipeline does. v1 (``POST /v1/models/NAME:predict``):
``{"instances": [{feature: value, ...}, ...]}``. Columns are matched to model inputs as
the pipeline matches them (the input's name, or a column whose sanitized name it is).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from greenkfp.components._shared.model_inputs import input_name

NUMERIC_TYPES = frozenset(
    {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32"}
)
INTEGER_TYPES = frozenset(t for t in NUMERIC_TYPES if "INT" in t)
OUTPUT_NAME = "scores"


class RequestError(Exception):
    """A request the server refuses: the HTTP status and a message naming the field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_json(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object; raises :class:`RequestError` (400) otherwise."""
    if not body or not body.strip():
        raise RequestError(400, "the request body is empty: send a JSON object")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise RequestError(400, f"the request body is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return value


def _column_for(inputs: dict[str, str], names: list[str]) -> dict[str, str]:
    """Maps each model input to the request's field that feeds it; 400 for a missing one."""
    by_input = {}
    for name in names:
        by_input.setdefault(name, name)
        by_input.setdefault(input_name(name), name)
    missing = [i for i in inputs if i not in by_input]
    if missing:
        raise RequestError(400, f"missing input {missing[0]!r} (the model takes {sorted(inputs)})")
    return {i: by_input[i] for i in inputs}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_value(value: Any, dtype: str, where: str) -> Any:
    if value is None:
        return math.nan if dtype != "string" else None
    if dtype == "string":
        if isinstance(value, str) or (_is_number(value) and float(value).is_integer()):
            return value
        raise RequestError(400, f"{where} must be a string, got {json.dumps(value)[:40]}")
    if not _is_number(value):
        raise RequestError(400, f"{where} must be a number, got {json.dumps(value)[:40]}")
    return value


def v2_rows(request: dict[str, Any], inputs: dict[str, str]) -> pd.DataFrame:
    """Raw rows from a v2 inference request; raises :class:`RequestError` naming the field.

    Args:
        request: The request body.
        inputs: The model's raw inputs and their dtypes (``serving.json``).
    """
    tensors = request.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise RequestError(400, "field 'inputs' must be a non-empty list of input tensors")
    by_name: dict[str, dict[str, Any]] = {}
    for i, tensor in enumerate(tensors):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise RequestError(400, f"inputs[{i}] must be an object with a string 'name'")
        by_name[tensor["name"]] = tensor
    columns = {}
    rows = None
    for model_input, field_name in _column_for(inputs, list(by_name)).items():
        tensor, dtype = by_name[field_name], inputs[model_input]
        datatype, data, shape = tensor.get("datatype"), tensor.get("data"), tensor.get("shape")
        where = f"input {field_name!r}"
        if dtype == "string" and datatype != "BYTES" and datatype not in INTEGER_TYPES:
            raise RequestError(400, f"{where}: datatype must be BYTES, got {datatype!r}")
        if dtype != "string" and datatype not in NUMERIC_TYPES:
            raise RequestError(
                400, f"{where}: datatype must be FP32, FP64 or INT64, got {datatype!r}"
            )
        if not isinstance(data, list) or not data:
            raise RequestError(400, f"{where}: 'data' must be a non-empty flat list")
        if shape != [len(data)]:
            raise RequestError(400, f"{where}: 'shape' must be [{len(data)}], got {shape!r}")
        if rows is not None and len(data) != rows:
            raise RequestError(400, f"{where} has {len(data)} values, other inputs {rows}")
        rows = len(data)
        columns[field_name] = [_check_value(v, dtype, f"{where}[{j}]") for j, v in enumerate(data)]
    return pd.DataFrame(columns)


def v1_rows(request: dict[str, Any], inputs: dict[str, str]) -> pd.DataFrame:
    """Raw rows from a v1 ``:predict`` request; raises :class:`RequestError` naming the field."""
    instances = request.get("instances")
    if not isinstance(instances, list) or not instances:
        raise RequestError(400, "field 'instances' must be a non-empty list of objects")
    records = []
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise RequestError(400, f"instances[{i}] must be an object of feature values")
        fields = _column_for(inputs, list(instance))
        records.append(
            {
                name: _check_value(instance[name], inputs[model_input], f"instances[{i}].{name}")
                for model_input, name in fields.items()
            }
        )
    return pd.DataFrame.from_records(records)


def v2_answer(model: str, version: int, scores: list[float], request_id: Any) -> dict[str, Any]:
    """The v2 inference response: one FP32 output tensor, ``scores``."""
    answer: dict[str, Any] = {
        "model_name": model,
        "model_version": str(version),
        "outputs": [
            {"name": OUTPUT_NAME, "shape": [len(scores)], "datatype": "FP32", "data": scores}
        ],
    }
    if request_id is not None:
        answer["id"] = request_id
    return answer


def v2_metadata(model: str, version: int, platform: str, inputs: dict[str, str]) -> dict:
    """The v2 model metadata: name, version, platform, input and output tensors."""
    return {
        "name": model,
        "versions": [str(version)],
        "platform": platform,
        "inputs": [
            {"name": n, "datatype": "BYTES" if t == "string" else "FP32", "shape": [-1]}
            for n, t in inputs.items()
        ],
        "outputs": [{"name": OUTPUT_NAME, "datatype": "FP32", "shape": [-1]}],
    }
