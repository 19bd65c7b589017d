"""Beam pipeline options of the steps that run TFDV or TFMA through Beam.

Beam 2.72's default runner (Prism) downloads its binary from GitHub at run time: a
cluster without internet access would fail or wait, so the in-process DirectRunner is
the default here unless the user's options name a runner.
"""

from __future__ import annotations

from typing import Sequence


def beam_options(beam_pipeline_args: Sequence[str]) -> list[str]:
    """The user's Beam options, with ``--runner=DirectRunner`` first unless they name one."""
    args = list(beam_pipeline_args)
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args.insert(0, "--runner=DirectRunner")
    return args
