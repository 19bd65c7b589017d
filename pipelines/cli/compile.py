"""``greenkfp compile`` and ``greenkfp docs``: YAML, reference and graphs from the code.

``compile`` writes every pipeline and component as KFP YAML; ``docs`` writes
``components/REFERENCE.md`` and each pipeline's task graph as SVG.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    """Adds the ``compile`` command to the ``greenkfp`` subcommands."""
    cmd = commands.add_parser(
        "compile",
        help="write every pipeline and component as KFP YAML",
        description="Compile every pipeline to OUTPUT_DIR/pipelines/<name>.yaml and every "
        "component to OUTPUT_DIR/components/<name>.yaml.",
    )
    cmd.add_argument("--output-dir", default="build", help="default: build")
    cmd.add_argument(
        "--image",
        default=None,
        help="component image in the YAML (default: $GREENKFP_IMAGE or "
        "ghcr.io/greenkfp/greenkfp:<version>)",
    )
    cmd.set_defaults(handler=run_compile)


def add_docs_parser(commands: Any) -> None:
    """Adds the ``docs`` command to the ``greenkfp`` subcommands."""
    cmd = commands.add_parser(
        "docs", help="write the component reference and the pipeline graphs from the code"
    )
    cmd.add_argument(
        "--output", default="components/REFERENCE.md", help="default: components/REFERENCE.md"
    )
    cmd.add_argument(
        "--graphs-dir",
        default="build/pipelines",
        help="where each pipeline's task graph goes as <name>.svg (default: build/pipelines)",
    )
    cmd.set_defaults(handler=run_docs)


def run_compile(args: argparse.Namespace) -> int:
    """Runs ``greenkfp compile``; prints every file written."""
    from greenkfp.pipelines.tools.compiler import compile_all

    for path in compile_all(args.output_dir, args.image):
        print(path)
    return 0


def run_docs(args: argparse.Namespace) -> int:
    """Runs ``greenkfp docs``; prints every file written."""
    from greenkfp.pipelines.tools.docs import write_reference
    from greenkfp.pipelines.tools.graph import write_graphs

    print(write_reference(args.output))
    for path in write_graphs(args.graphs_dir):
        print(path)
    return 0
