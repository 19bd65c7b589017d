"""Progress lines of long work, printed as they happen.

A step's process prints them with a flush, so the KFP UI's log of its pod shows them while
it runs, and ``greenkfp run`` (``pipelines/runners/local.py``) picks them out of the task's
output by :data:`PROGRESS_PREFIX` and shows them, indented, under the step's header.
Standard library only: any step may print one.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator

#: What starts every progress line; the local runner shows the lines that start with it.
PROGRESS_PREFIX = "[greenkfp progress] "


def report(message: str) -> None:
    """Prints one progress line now (flushed, so logs show it before the step ends)."""
    print(f"{PROGRESS_PREFIX}{message}", file=sys.stdout, flush=True)


def message_of(line: str) -> str | None:
    """The message of a progress line, or None for any other line of a step's output.

    kfp.local indents a task's output, so leading blanks are ignored.
    """
    line = line.strip()
    return line[len(PROGRESS_PREFIX) :] if line.startswith(PROGRESS_PREFIX) else None


def elapsed_text(seconds: float) -> str:
    """``'4.2 s'``, ``'3 min 05 s'``: elapsed time as a person reads it."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


@contextlib.contextmanager
def timed(what: str, detail: str = "") -> Iterator[dict[str, str]]:
    """Reports ``what`` when it starts and, with its elapsed time, when it ends.

    Args:
        what: The work, e.g. ``"TFDV statistics of eval_dataset"``.
        detail: Said at the start, e.g. ``"8,000 rows"``.

    Yields:
        A dict whose ``"result"`` the caller may set; it is added to the end line.
    """
    report(f"{what}: started" + (f" ({detail})" if detail else ""))
    started = time.monotonic()
    outcome: dict[str, str] = {"result": ""}
    try:
        yield outcome
    except BaseException:
        report(f"{what}: failed after {elapsed_text(time.monotonic() - started)}")
        raise
    result = f", {outcome['result']}" if outcome["result"] else ""
    report(f"{what}: done in {elapsed_text(time.monotonic() - started)}{result}")
