"""What every submission shares: its two kinds of error and the record of what it created.

Bad input raises :class:`SubmitInputError` (exit status 2); a failure while sending
raises :class:`SubmitFailed` (exit status 1). Both carry one line that names the
parameter, file or host at fault.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Optional


class SubmitInputError(ValueError):
    """Bad input (exit status 2): the message names the parameter, file or option."""


class SubmitFailed(RuntimeError):
    """Sending failed (exit status 1): the message names the host or project."""


@dataclass
class Submitted:
    """What was created: IDs and, where known, the URL to open."""

    target: str
    run_id: Optional[str] = None
    run_url: Optional[str] = None
    pipeline_id: Optional[str] = None
    version_id: Optional[str] = None
    pipeline_url: Optional[str] = None
    new_pipeline: bool = False
    lines: list[str] = field(default_factory=list)


def stamp() -> str:
    """The local date and time as default run and version names carry it."""
    return datetime.datetime.now().strftime("%Y-%m-%d %H-%M-%S")
