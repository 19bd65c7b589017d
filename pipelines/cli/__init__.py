"""The ``greenkfp`` command: run pipelines locally, compile them, submit them, manage a registry.

One module per command: :mod:`.run` (``run``), :mod:`.compile` (``compile``, ``docs``),
:mod:`.submit` (``submit``), :mod:`.registry` (``registry``) and :mod:`.serve` (``serve``).
Each adds its sub-command to the parser and sets the function that runs it.
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from greenkfp.pipelines.cli import compile, registry, run, serve, submit


def build_parser() -> argparse.ArgumentParser:
    """Returns the ``greenkfp`` argument parser with every sub-command."""
    from greenkfp import __version__

    parser = argparse.ArgumentParser(
        prog="greenkfp",
        description="Kubeflow Pipelines components for sustainable MLOps.",
    )
    parser.add_argument("--version", action="version", version=f"greenkfp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compile.add_parser(commands)
    run.add_parser(commands)
    compile.add_docs_parser(commands)
    registry.add_parser(commands)
    submit.add_parser(commands)
    serve.add_parser(commands)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the ``greenkfp`` command line.

    Args:
        argv: Arguments; default ``sys.argv[1:]``.

    Returns:
        The exit status.
    """
    args = build_parser().parse_args(argv)
    return args.handler(args)
