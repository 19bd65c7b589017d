"""``greenkfp submit``: send a pipeline to a KFP host or to Vertex AI Pipelines.

``greenkfp submit [--pipeline NAME | --package FILE] [--params FILE] [--param K=V]...``
``    [--host URL] [--namespace NS] [--experiment NAME] [--run-name NAME] [--upload [--no-run]]``
``greenkfp submit --vertex --project P --region R --pipeline-root gs://... [...]``
``greenkfp submit ... --dry-run``
``greenkfp submit --carbon-aware [--forecast FILE | --carbon-aware-url URL | --electricitymaps]``
``    [--within 8h] [--job-hours 1] [--regions a,b,c] ...``

Parameters are validated against the pipeline's inputs before anything is sent.
Exit status: 0 sent (or dry run passed), 2 bad input, 1 sending failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import Any

from greenkfp.components._shared.grid_forecast import ForecastError
from greenkfp.pipelines.carbon import submission as carbon
from greenkfp.pipelines.runners import preflight
from greenkfp.pipelines.runners.dry_run import describe
from greenkfp.pipelines.runners.kfp_target import KfpTarget, submit_to_kfp
from greenkfp.pipelines.runners.package import (
    FALLBACK_PIPELINE,
    PREFERRED_PIPELINE,
    check_parameters,
    collect_parameters,
    compile_pipeline,
    default_pipeline,
    load_package,
)
from greenkfp.pipelines.runners.submission import SubmitFailed, SubmitInputError
from greenkfp.pipelines.runners.vertex_target import (
    VertexTarget,
    anonymous_credentials,
    build_vertex_job,
    check_vertex_target,
    submit_to_vertex,
)

PROG = "greenkfp submit"


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Adds the ``submit`` command to the ``greenkfp`` subcommands."""
    cmd = commands.add_parser(
        "submit",
        help="send a pipeline to a KFP host or to Vertex AI Pipelines",
        description="Compile a greenkfp pipeline (or take a compiled package), validate the "
        "parameters against its inputs, and create a run on a Kubeflow Pipelines host "
        "(kfp.Client) or a pipeline job on Vertex AI Pipelines. Exit status: 0 sent, "
        "2 bad input, 1 sending failed.",
    )
    what = cmd.add_argument_group("pipeline")
    choice = what.add_mutually_exclusive_group()
    choice.add_argument(
        "--pipeline",
        default=None,
        help="greenkfp pipeline to compile and send (default: "
        f"{PREFERRED_PIPELINE} when present, else {FALLBACK_PIPELINE})",
    )
    choice.add_argument("--package", default=None, help="an already compiled pipeline YAML")
    what.add_argument(
        "--image",
        default=None,
        help="component image when compiling --pipeline (default: $GREENKFP_IMAGE or "
        "ghcr.io/greenkfp/greenkfp:<version>)",
    )
    params = cmd.add_argument_group("parameters")
    params.add_argument("--params", default=None, help="YAML or JSON mapping of parameters")
    params.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one parameter (repeatable; wins over --params). The value is read as YAML "
        "(epochs=5, sensitive_features='[sex, age]'); a string parameter takes it verbatim",
    )
    kfp = cmd.add_argument_group("Kubeflow Pipelines (default target)")
    kfp.add_argument(
        "--host",
        default=None,
        help="KFP API URL, e.g. http://localhost:8080 (default: $KF_PIPELINES_ENDPOINT, "
        "else kube config or in-cluster, as kfp.Client does)",
    )
    kfp.add_argument("--namespace", default=None, help="namespace (multi-user KFP)")
    kfp.add_argument(
        "--existing-token",
        default=None,
        help="bearer token for the KFP API (kfp.Client existing_token)",
    )
    kfp.add_argument("--experiment", default=None, help="experiment name (default: Default)")
    kfp.add_argument(
        "--upload",
        action="store_true",
        help="upload the pipeline (a new version when one of that name exists), then run it",
    )
    kfp.add_argument("--no-run", action="store_true", help="with --upload: do not create a run")
    kfp.add_argument("--version-name", default=None, help="with --upload: pipeline version name")
    vertex = cmd.add_argument_group("Vertex AI Pipelines")
    vertex.add_argument("--vertex", action="store_true", help="send to Vertex AI Pipelines")
    vertex.add_argument("--project", default=None, help="Google Cloud project")
    vertex.add_argument("--region", default=None, help="Vertex AI region, e.g. europe-west4")
    common = cmd.add_argument_group("run")
    common.add_argument("--run-name", default=None, help="run (display) name")
    common.add_argument(
        "--pipeline-root",
        default=None,
        help="root of the pipeline outputs (gs://... and required with --vertex; optional on KFP)",
    )
    common.add_argument(
        "--service-account",
        default=None,
        help="Kubernetes service account (KFP) or Google service account (Vertex) of the run",
    )
    caching = common.add_mutually_exclusive_group()
    caching.add_argument(
        "--enable-caching",
        dest="enable_caching",
        action="store_const",
        const=True,
        default=None,
        help="cache every task (default: the compile-time settings)",
    )
    caching.add_argument("--no-caching", dest="enable_caching", action="store_const", const=False)
    common.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be sent and validate it; send nothing",
    )
    carbon.add_arguments(cmd)
    cmd.set_defaults(handler=run)
    return cmd


def _fail(message: str, status: int) -> int:
    for line in str(message).splitlines() or [""]:
        print(f"{PROG}: {line}", file=sys.stderr)
    return status


def _check_options(args: argparse.Namespace) -> None:
    kfp_only = [
        ("--host", args.host),
        ("--namespace", args.namespace),
        ("--existing-token", args.existing_token),
        ("--upload", args.upload),
        ("--no-run", args.no_run),
        ("--version-name", args.version_name),
    ]
    if args.vertex:
        given = [option for option, value in kfp_only if value]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise SubmitInputError(f"{', '.join(given)} only {verb} to KFP, not --vertex")
    else:
        given = [o for o, v in (("--project", args.project), ("--region", args.region)) if v]
        if given:
            verb = "needs" if len(given) == 1 else "need"
            raise SubmitInputError(f"{', '.join(given)} {verb} --vertex")
        if (args.no_run or args.version_name) and not args.upload:
            raise SubmitInputError("--no-run and --version-name need --upload")
    carbon_only = [
        ("--forecast", args.forecast),
        ("--carbon-aware-url", args.carbon_aware_url),
        ("--electricitymaps", args.electricitymaps),
        ("--regions", args.regions),
        ("--now", args.now),
    ]
    given = [option for option, value in carbon_only if value]
    if given and not args.carbon_aware:
        raise SubmitInputError(f"{', '.join(given)} need(s) --carbon-aware")
    if args.image and args.package:
        raise SubmitInputError(
            "--image applies when compiling --pipeline; recompile the package with "
            "`greenkfp compile --image ...`"
        )


def _target(args: argparse.Namespace) -> Any:
    if args.vertex:
        target = VertexTarget(
            project=args.project,
            region=args.region,
            pipeline_root=args.pipeline_root,
            service_account=args.service_account,
            enable_caching=args.enable_caching,
            run_name=args.run_name,
            experiment=args.experiment,
        )
        check_vertex_target(target)
        return target
    return KfpTarget(
        host=args.host,
        namespace=args.namespace,
        existing_token=args.existing_token,
        experiment=args.experiment,
        run_name=args.run_name,
        enable_caching=args.enable_caching,
        pipeline_root=args.pipeline_root,
        service_account=args.service_account,
        upload=args.upload,
        run=not args.no_run,
        version_name=args.version_name,
    )


def _submit(args: argparse.Namespace, workdir: str) -> int:
    _check_options(args)
    choice = carbon.plan(args) if args.carbon_aware else None
    if choice is not None:
        for line in carbon.describe(choice):
            print(line)
        if args.vertex:
            args.region = choice.location
    target = _target(args)
    if args.package:
        package = load_package(args.package)
    else:
        name = args.pipeline or default_pipeline()
        package = compile_pipeline(name, workdir, args.image)
    values = collect_parameters(package, args.params, args.param)
    runs = not isinstance(target, KfpTarget) or target.run
    check_parameters(package, values, require_all=runs)
    if runs:
        try:
            if "policy" in values:
                preflight.check_given_policy(values["policy"], "parameter policy")
            preflight.check_parameters(package.spec, values)
        except preflight.PreflightError as e:
            raise SubmitInputError(str(e)) from None

    if isinstance(target, VertexTarget):
        if args.dry_run:
            job = build_vertex_job(package, values, target, anonymous_credentials())
            request = [
                f"Request:    {job._parent}/pipelineJobs/{job.job_id} "
                f"(gcsOutputDirectory {job._gca_resource.runtime_config.gcs_output_directory})"
            ]
            print(describe(package, values, target, request))
            print("Dry run: the parameters are valid; nothing was sent.")
            return _carbon_summary(choice)
        _wait(choice)
        job = build_vertex_job(package, values, target)
        done = submit_to_vertex(job, target)
    else:
        if args.dry_run:
            print(describe(package, values, target))
            print("Dry run: the parameters are valid; nothing was sent.")
            return _carbon_summary(choice)
        _wait(choice)
        done = submit_to_kfp(package, values, target)
    for line in done.lines:
        print(line)
    return _carbon_summary(choice)


def _wait(choice: Any) -> None:
    if choice is not None:
        carbon.wait_until(choice)


def _carbon_summary(choice: Any) -> int:
    if choice is not None:
        print(carbon.json_line(choice))
    return 0


def run(args: argparse.Namespace) -> int:
    """Runs ``greenkfp submit``; returns the exit status (0 sent, 2 bad input, 1 failed)."""
    try:
        with tempfile.TemporaryDirectory(prefix="greenkfp-submit-") as workdir:
            return _submit(args, workdir)
    except (SubmitInputError, ForecastError) as err:
        return _fail(str(err), 2)
    except SubmitFailed as err:
        return _fail(str(err), 1)
