"""The ``greenkfp`` command: compile pipelines to YAML, run them locally."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Optional, Sequence

from greenkfp.pipelines import registry_cli

DEFAULT_LOCAL_PIPELINE = "training_pipeline"


def embedded_data_path() -> str:
    """Returns the path of the embedded German Credit data set (see pipelines/data/NOTICE.md)."""
    return str(resources.files("greenkfp.pipelines") / "data" / "german_credit.csv")


# The embedded data's label and settings, used when no --data is given.
EMBEDDED_DATA_ARGUMENTS: dict[str, Any] = {
    "label_column": "risk",
    "categorical_features": ["job"],
    "required_columns": ["risk"],
}


def _as_uri(path: str) -> str:
    """Makes a local path absolute (task processes run elsewhere); leaves URIs alone."""
    return path if "://" in path else os.path.abspath(path)


def _csv_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _build_parser() -> argparse.ArgumentParser:
    from greenkfp import __version__

    parser = argparse.ArgumentParser(
        prog="greenkfp",
        description="Kubeflow Pipelines components for sustainable MLOps.",
    )
    parser.add_argument("--version", action="version", version=f"greenkfp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    compile_cmd = commands.add_parser(
        "compile",
        help="write every pipeline and component as KFP YAML",
        description="Compile every pipeline to OUTPUT_DIR/pipelines/<name>.yaml and every "
        "component to OUTPUT_DIR/components/<name>.yaml.",
    )
    compile_cmd.add_argument("--output-dir", default="build", help="default: build")
    compile_cmd.add_argument(
        "--image",
        default=None,
        help="component image in the YAML (default: $GREENKFP_IMAGE or "
        "ghcr.io/greenkfp/greenkfp:<version>)",
    )

    run_cmd = commands.add_parser(
        "run",
        help="run a pipeline locally through kfp.local",
        description="Run a pipeline locally (kfp.local SubprocessRunner in this Python). "
        "Without --data it runs on the embedded German Credit data set. Everything of "
        "the run stays under --output-dir, with run_summary.json and run.log.",
    )
    run_cmd.add_argument(
        "--pipeline",
        default=DEFAULT_LOCAL_PIPELINE,
        help=f"pipeline to run (default: {DEFAULT_LOCAL_PIPELINE})",
    )
    run_cmd.add_argument("--output-dir", default=None, help="default: runs/<pipeline>-<timestamp>")
    run_cmd.add_argument("--data", default=None, help="CSV of training (or all) data")
    run_cmd.add_argument(
        "--eval-data", default="", help="CSV of eval data (default: a seeded split)"
    )
    run_cmd.add_argument("--label-column", default=None, help="the label column")
    run_cmd.add_argument(
        "--positive-label", default=None, help="label value of the positive class (default 1)"
    )
    run_cmd.add_argument("--module-file", default=None, help="file with build_model(...)")
    run_cmd.add_argument("--epochs", type=int, default=None, help="maximum training epochs")
    run_cmd.add_argument(
        "--country", default=None, help="grid country (ISO alpha-3) for carbon figures"
    )
    run_cmd.add_argument("--delimiter", default=None, help="CSV field separator (default ,)")
    run_cmd.add_argument(
        "--missing-values", type=_csv_list, default=None, help="comma-separated missing markers"
    )
    run_cmd.add_argument(
        "--categorical-features",
        type=_csv_list,
        default=None,
        help="integer columns holding categories",
    )
    run_cmd.add_argument(
        "--required-columns",
        type=_csv_list,
        default=None,
        help="columns that must never be missing",
    )
    run_cmd.add_argument(
        "--fail-on",
        choices=["anomalies", "drift", "never"],
        default=None,
        help="default: anomalies",
    )
    run_cmd.add_argument(
        "--beam-pipeline-args", type=_csv_list, default=None, help="comma-separated Beam options"
    )
    registry_cli.add_parser(commands)
    return parser


def _run_arguments(args: argparse.Namespace) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    if args.data is None:
        arguments.update({"data_uri": embedded_data_path(), **EMBEDDED_DATA_ARGUMENTS})
    else:
        arguments["data_uri"] = _as_uri(args.data)
    if args.eval_data:
        arguments["eval_data_uri"] = _as_uri(args.eval_data)
    for option, parameter in [
        ("label_column", "label_column"),
        ("positive_label", "positive_label"),
        ("epochs", "epochs"),
        ("country", "country_iso_code"),
        ("delimiter", "delimiter"),
        ("missing_values", "missing_values"),
        ("categorical_features", "categorical_features"),
        ("required_columns", "required_columns"),
        ("fail_on", "fail_on"),
        ("beam_pipeline_args", "beam_pipeline_args"),
    ]:
        value = getattr(args, option)
        if value is not None:
            arguments[parameter] = value
    if args.module_file:
        arguments["module_file"] = _as_uri(args.module_file)
    return arguments


def _pipeline_arguments(pipeline: Any, arguments: dict[str, Any], given: set[str]) -> dict:
    """Keeps the arguments the pipeline declares; a given one it lacks is an error."""
    declared = set(pipeline.pipeline_spec.root.input_definitions.parameters)
    unknown = sorted(given - declared)
    if unknown:
        raise ValueError(
            f"pipeline {pipeline.name!r} has no parameter(s) {unknown}; it takes {sorted(declared)}"
        )
    parameters = pipeline.pipeline_spec.root.input_definitions.parameters
    missing = [n for n, p in parameters.items() if not p.is_optional and n not in arguments]
    if missing:
        options = ", ".join("--" + n.replace("_", "-") for n in missing)
        raise ValueError(f"pipeline {pipeline.name!r} needs {options}")
    return {k: v for k, v in arguments.items() if k in declared}


def _command_compile(args: argparse.Namespace) -> int:
    from greenkfp.pipelines.compiler import compile_all

    for path in compile_all(args.output_dir, args.image):
        print(path)
    return 0


def _command_run(args: argparse.Namespace) -> int:
    from greenkfp.pipelines import ALL_PIPELINES
    from greenkfp.pipelines.local_runner import SUMMARY_FILE, run_locally

    if args.pipeline not in ALL_PIPELINES:
        print(
            f"greenkfp run: unknown pipeline {args.pipeline!r}; "
            f"choose from {sorted(ALL_PIPELINES)}",
            file=sys.stderr,
        )
        return 2
    if args.data is not None and "://" not in args.data and not os.path.exists(args.data):
        print(f"greenkfp run: --data file not found: {args.data}", file=sys.stderr)
        return 2
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output_dir = Path(args.output_dir or f"runs/{args.pipeline}-{stamp}")
    arguments = _run_arguments(args)
    defaults = set(EMBEDDED_DATA_ARGUMENTS) | {"data_uri"} if args.data is None else set()
    pipeline = ALL_PIPELINES[args.pipeline]
    try:
        arguments = _pipeline_arguments(pipeline, arguments, set(arguments) - defaults)
    except ValueError as e:
        print(f"greenkfp run: {e}", file=sys.stderr)
        return 2
    print(f"Running {args.pipeline} locally; everything goes to {output_dir}/")
    summary = run_locally(pipeline, arguments, output_dir)
    print()
    if summary.status != "succeeded":
        print(f"FAILED at step {summary.failed_step or '?'}: {summary.error}", file=sys.stderr)
        print(f"Full log: {summary.log}", file=sys.stderr)
        return 1
    print(
        f"Succeeded in {summary.duration_s:.0f} s. Energy {summary.energy_kwh_total:.3g} kWh, "
        f"emissions {summary.emissions_kg_co2eq_total:.3g} kg CO2eq. Reports:"
    )
    display_names = {step.name: step.display_name for step in summary.steps}
    for name, path in summary.reports.items():
        task, output = name.rsplit(".", 1)
        print(f"  {display_names.get(task) or task} ({output}): {path}")
    print(f"Summary: {output_dir / SUMMARY_FILE}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the ``greenkfp`` command line.

    Args:
        argv: Arguments; default ``sys.argv[1:]``.

    Returns:
        The exit status.
    """
    args = _build_parser().parse_args(argv)
    handlers = {"compile": _command_compile, "run": _command_run, "registry": registry_cli.run}
    return handlers[args.command](args)
