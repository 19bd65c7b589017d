"""The fairness evaluation's record, ``fairness.json``, as later steps read it.

The fairness step writes it into its output folder (``tfma_output``); the mitigation
step reads the slicing from it, so both group rows the same way.
"""

from __future__ import annotations

import json
import os
from typing import Any

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError

FAIRNESS_JSON = "fairness.json"
"""File in the output folder holding every per-slice figure, gap and change."""


def read_settings(output_dir: str) -> dict[str, Any]:
    """The slicing of a fairness evaluation: sensitive features, buckets, min_slice_size.

    Raises:
        InputError: When the folder holds no readable ``fairness.json``.
    """
    path = os.path.join(output_dir, FAIRNESS_JSON)
    try:
        record = json.loads(uri_io.read_bytes(path))
    except (OSError, ValueError, InputError) as err:
        raise InputError(f"cannot read the fairness evaluation's {path}: {err}") from err
    settings = record.get("settings") if isinstance(record, dict) else None
    if not isinstance(settings, dict):
        raise InputError(f"{path} holds no 'settings' (the slicing of the evaluation)")
    return settings
