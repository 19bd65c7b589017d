"""``greenkfp run``: run a pipeline locally through kfp.local and print its outcome.

Without ``--data`` it runs on the embedded German Credit data set; everything of the run
stays under ``--output-dir``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import sys
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_LOCAL_PIPELINE = "sustainable_training_pipeline"
REGISTRY_DIR = "registry"


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


def _yaml_mapping(text: str) -> dict[str, Any]:
    import yaml

    from greenkfp.components._shared import yaml_text

    try:
        value = yaml_text.safe_load(text)
    except yaml.YAMLError as e:
        raise argparse.ArgumentTypeError(f"not YAML: {e}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"expected a mapping like '{{age: [25, 40]}}', got {text!r}"
        )
    return value


def add_parser(commands: Any) -> None:
    """Adds the ``run`` command to the ``greenkfp`` subcommands."""
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
    run_cmd.add_argument(
        "--cold",
        action="store_true",
        help="start a fresh interpreter per step, as kfp.local does, instead of forking each "
        "step from one process that has imported the runtime stack",
    )
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
        "--encoding",
        default=None,
        help="text encoding of the CSV files (default utf-8, decoded strictly; a byte order "
        "mark overrides it)",
    )
    run_cmd.add_argument(
        "--mixed-numeric",
        choices=["error", "missing"],
        default=None,
        help="a column numeric in most rows but holding text in others: stop naming it "
        "(error, the default) or read those cells as missing",
    )
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
    run_cmd.add_argument(
        "--sensitive-features",
        type=_csv_list,
        default=None,
        help="comma-separated columns to slice fairness on (default: sex,age)",
    )
    run_cmd.add_argument(
        "--feature-buckets",
        type=_yaml_mapping,
        default=None,
        help="boundaries of numeric sensitive features as YAML, e.g. '{age: [25, 40, 60]}' "
        "(default: the pipeline's, for the features given)",
    )
    run_cmd.add_argument("--policy", default=None, help="the gate's policy, a YAML or JSON file")
    run_cmd.add_argument(
        "--registry",
        default=None,
        help="model registry folder or gs:// URI (default: OUTPUT_DIR/registry)",
    )
    run_cmd.add_argument("--model-name", default=None, help="name in the registry")
    run_cmd.add_argument(
        "--compression",
        type=_csv_list,
        default=None,
        help="compression methods, e.g. prune,int8 (default: auto)",
    )
    run_cmd.set_defaults(handler=run)


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
        ("encoding", "encoding"),
        ("mixed_numeric", "mixed_numeric"),
        ("missing_values", "missing_values"),
        ("categorical_features", "categorical_features"),
        ("required_columns", "required_columns"),
        ("fail_on", "fail_on"),
        ("beam_pipeline_args", "beam_pipeline_args"),
        ("sensitive_features", "sensitive_features"),
        ("feature_buckets", "feature_buckets"),
        ("model_name", "model_name"),
        ("compression", "compression_methods"),
    ]:
        value = getattr(args, option)
        if value is not None:
            arguments[parameter] = value
    if args.module_file:
        arguments["module_file"] = _as_uri(args.module_file)
    if args.registry:
        arguments["registry_uri"] = _as_uri(args.registry)
    if args.policy is not None:
        arguments["policy"] = _read_policy(args.policy)
    return arguments


def _read_policy(path: str) -> str:
    """Reads a policy file; an empty one is an error (the up-front check parses the rest)."""
    from greenkfp.pipelines.runners.preflight import check_given_policy

    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ValueError(f"cannot read --policy {path}: {e.strerror}") from None
    check_given_policy(text, f"--policy {path}")
    return text


def _output_dir_problem(path: Path) -> str:
    """Why ``path`` cannot be the run's folder (an existing file on its way), or ''."""
    for folder in (path, *path.parents):
        if folder.exists():
            return "" if folder.is_dir() else f"{folder} is an existing file, not a folder"
    return ""


def _parameters(pipeline: Any) -> Any:
    return pipeline.pipeline_spec.root.input_definitions.parameters


def _default_value(parameter: Any) -> Any:
    from google.protobuf import json_format

    return json_format.MessageToDict(parameter.default_value)


def _pipeline_arguments(pipeline: Any, arguments: dict[str, Any], given: set[str]) -> dict:
    """Keeps the arguments the pipeline declares; a given one it lacks is an error."""
    declared = set(_parameters(pipeline))
    unknown = sorted(given - declared)
    if unknown:
        raise ValueError(
            f"pipeline {pipeline.name!r} has no parameter(s) {unknown}; it takes {sorted(declared)}"
        )
    parameters = _parameters(pipeline)
    missing = [n for n, p in parameters.items() if not p.is_optional and n not in arguments]
    if missing:
        options = ", ".join("--" + n.replace("_", "-") for n in missing)
        raise ValueError(f"pipeline {pipeline.name!r} needs {options}")
    return {k: v for k, v in arguments.items() if k in declared}


def outcome_rows(summary: Any) -> list[tuple[str, str]]:
    """The end-of-run table: what the gate decided, what shipped, what it cost."""
    rows = []
    if summary.approved is not None:
        checks = summary.checks or []
        passed = sum(c["passed"] is True for c in checks)
        skipped = sum(c["passed"] is None for c in checks)
        failed = [c["name"] for c in checks if c["passed"] is False]
        verdict = "APPROVED" if summary.approved else "REFUSED"
        detail = f"{passed} checks passed" + (f", {skipped} skipped" if skipped else "")
        detail += f"; failed: {', '.join(failed)}" if failed else ""
        rows.append(("Gate decision", f"{verdict} ({detail})"))
    if summary.deployed is not None:
        rows.append(
            (
                "Deployed version",
                f"{summary.deployed_version}" if summary.deployed else "none (nothing deployed)",
            )
        )
    methods = sorted({s.energy.get("energy_method", "") for s in summary.steps} - {""})
    rows.append(
        (
            "Energy, emissions",
            f"{summary.energy_kwh_total:.3g} kWh ({summary.energy_kwh_total_low:.3g} to "
            f"{summary.energy_kwh_total_high:.3g}), {summary.emissions_kg_co2eq_total:.3g} kg "
            f"CO2eq ({', '.join(methods) or 'not metered'})",
        )
    )
    if summary.steps_priced:
        rows.append(
            (
                "Emissions (kg CO2eq)",
                f"{summary.emissions_kg_as_run:.3g} as run, "
                f"{summary.emissions_kg_annual_average:.3g} at the annual average, "
                f"{summary.emissions_kg_best_window:.3g} at the best window "
                f"({summary.carbon_intensity_source})",
            )
        )
    if summary.size_ratio is not None:
        speedup = summary.latency_speedup
        rows.append(
            (
                "Size, latency",
                f"{summary.size_ratio:.2f}x smaller"
                + (f", {speedup:.2f}x faster (p50)" if speedup is not None else ""),
            )
        )
    if summary.worst_fairness_gap is not None:
        rows.append(("Worst fairness gap", f"{summary.worst_fairness_gap:.3f}"))
    if summary.mitigation_gaps:  # the policy named a remedy and gated a gap
        rows.append(("Fairness mitigation", f"{summary.mitigation} ({summary.mitigation_reason})"))
        for g in summary.mitigation_gaps:
            before, after = g["before"].get("gap"), g["after"].get("gap")
            if before is not None and after is not None:
                rows.append(
                    ("", f"{g['metric']} gap by {g['feature']} {before:.3f} -> {after:.3f}")
                )
    if summary.retrained is not None:
        rows.append(("Retrained", "yes" if summary.retrained else "no (skipped)"))
        rows += [("", reason) for reason in summary.retrain_reasons or []]
        if summary.energy_avoided_kwh is not None:
            rows.append(("Energy avoided", f"{summary.energy_avoided_kwh:.3g} kWh"))
    if summary.report_html:
        rows.append(("HTML report", summary.report_html))
    return rows


def run(args: argparse.Namespace) -> int:
    """Runs ``greenkfp run``; returns the exit status (0 succeeded, 1 failed, 2 bad input)."""
    from google.protobuf import json_format

    from greenkfp.pipelines import ALL_PIPELINES, CLUSTER_ONLY_PIPELINES
    from greenkfp.pipelines.runners.local import SUMMARY_FILE, run_locally
    from greenkfp.pipelines.runners.preflight import PreflightError, check_run

    local_pipelines = sorted(set(ALL_PIPELINES) - CLUSTER_ONLY_PIPELINES)
    if args.pipeline not in local_pipelines:
        why = (
            f"pipeline {args.pipeline!r} runs on clusters only (dsl.If, which kfp.local refuses)"
            if args.pipeline in ALL_PIPELINES
            else f"unknown pipeline {args.pipeline!r}"
        )
        print(f"greenkfp run: {why}; choose from {local_pipelines}", file=sys.stderr)
        return 2
    for option, path in [("--data", args.data), ("--eval-data", args.eval_data)]:
        if path and "://" not in path and not os.path.exists(path):
            print(f"greenkfp run: {option} file not found: {path}", file=sys.stderr)
            return 2
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output_dir = Path(args.output_dir or f"runs/{args.pipeline}-{stamp}")
    if problem := _output_dir_problem(output_dir):
        print(f"greenkfp run: --output-dir {output_dir}: {problem}", file=sys.stderr)
        return 2
    pipeline = ALL_PIPELINES[args.pipeline]
    try:
        arguments = _run_arguments(args)
        defaults = set(EMBEDDED_DATA_ARGUMENTS) | {"data_uri"} if args.data is None else set()
        parameters = _parameters(pipeline)
        if args.data is not None and args.label_column is None and "label_column" in parameters:
            # A default label column describes the embedded data, not the user's.
            raise ValueError(f"pipeline {pipeline.name!r} needs --label-column with --data")
        if "registry_uri" in parameters and "registry_uri" not in arguments:
            arguments["registry_uri"] = str((output_dir / REGISTRY_DIR).resolve())
            defaults.add("registry_uri")
        if "sensitive_features" in arguments and "feature_buckets" in set(parameters) - set(
            arguments
        ):
            # The default buckets are for the default features: keep those still sliced on.
            default = _default_value(parameters["feature_buckets"])
            arguments["feature_buckets"] = {
                k: v for k, v in default.items() if k in arguments["sensitive_features"]
            }
        arguments = _pipeline_arguments(pipeline, arguments, set(arguments) - defaults)
    except ValueError as e:
        print(f"greenkfp run: {e}", file=sys.stderr)
        return 2
    try:
        checked = check_run(json_format.MessageToDict(pipeline.pipeline_spec), arguments)
    except PreflightError as e:
        print(f"greenkfp run: {e} (found before any step ran)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("greenkfp run: interrupted by SIGINT before any step ran", file=sys.stderr)
        return 130
    print(checked)
    print(f"Running {args.pipeline} locally; everything goes to {output_dir}/")
    summary = run_locally(pipeline, arguments, output_dir, warm=not args.cold)
    if summary.status == "interrupted":
        print(
            f"greenkfp run: {summary.error}; nothing more ran. "
            f"Summary: {output_dir / SUMMARY_FILE}",
            file=sys.stderr,
        )
        return 128 + signal.Signals[summary.interrupted_by]
    print()
    if summary.status != "succeeded":
        print(f"FAILED at step {summary.failed_step or '?'}: {summary.error}", file=sys.stderr)
        print(f"Full log: {summary.log}", file=sys.stderr)
        return 1
    print(f"Succeeded in {summary.duration_s:.0f} s.")
    for label, value in outcome_rows(summary):
        print(f"  {label:<20} {value}")
    print("Reports:")
    display_names = {step.name: step.display_name for step in summary.steps}
    for name, path in summary.reports.items():
        task, output = name.rsplit(".", 1)
        print(f"  {display_names.get(task) or task} ({output}): {path}")
    print(f"Summary: {output_dir / SUMMARY_FILE}")
    return 0
