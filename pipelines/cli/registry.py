"""``greenkfp registry``: list the versions of a model registry, roll LIVE back.

``greenkfp registry list --registry URI [--model NAME] [--json]``
``greenkfp registry rollback --registry URI --model NAME [--to VERSION]``

Bad input (a registry or model that does not exist, a version that is not complete, a
LIVE file that does not hold a complete version's number, in every command) exits with
status 2 and a message naming it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(commands: Any) -> None:
    """Adds the ``registry`` command to the ``greenkfp`` subcommands."""
    registry = commands.add_parser(
        "registry",
        help="list model registry versions, roll LIVE back",
        description="Inspect a greenkfp model registry (a local folder or gs:// URI written "
        "by deploy_model) and move its LIVE pointer.",
    )
    actions = registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="list models, or the versions of one model",
        description="Without --model, list the models; with it, list its complete versions "
        "(the LIVE one marked) and any leftovers of failed pushes.",
    )
    listing.add_argument("--registry", required=True, help="registry base URI")
    listing.add_argument("--model", default=None, help="model name")
    listing.add_argument("--json", action="store_true", help="print JSON")
    rollback = actions.add_parser(
        "rollback",
        help="move LIVE to the previous (or a given) version",
        description="Move LIVE, atomically, to the newest complete version before the live "
        "one, or to --to VERSION. Versions are never deleted.",
    )
    rollback.add_argument("--registry", required=True, help="registry base URI")
    rollback.add_argument("--model", required=True, help="model name")
    rollback.add_argument("--to", type=int, default=None, help="version to make live")
    registry.set_defaults(handler=run)


def _fail(message: str) -> int:
    print(f"greenkfp registry: {message}", file=sys.stderr)
    return 2


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def _list(args: argparse.Namespace) -> int:
    from greenkfp.components._shared import io as uri_io
    from greenkfp.components._shared.errors import InputError
    from greenkfp.components.deployment.registry import Registry

    reg = Registry(args.registry)
    if args.model is None:
        if not uri_io.isdir(reg.base_uri):
            return _fail(f"registry {args.registry} does not exist")
        rows = [
            {"model": name, "live": reg.live_version(name), "versions": len(vs)}
            for name in reg.models()
            for vs in [reg.versions(name)]
        ]
        if args.json:
            print(json.dumps(rows, indent=2))
        elif not rows:
            print(f"no models in {args.registry}")
        else:
            print(f"{'MODEL':<32} {'LIVE':>6} {'VERSIONS':>8}")
            for row in rows:
                print(f"{row['model']:<32} {row['live'] or '-':>6} {row['versions']:>8}")
        return 0

    versions = reg.versions(args.model)
    if not versions:
        return _fail(f"model {args.model!r} has no complete version in {args.registry}")
    live = reg.live_version(args.model)
    rows = []
    for info in versions:
        try:
            candidate = reg.read_metrics(args.model, info.version).get("candidate") or {}
        except InputError:  # a version without metrics.json
            candidate = {}
        rows.append(
            {
                "version": info.version,
                "live": info.version == live,
                "completed_at": info.completed_at,
                "auc": candidate.get("auc"),
                "accuracy": candidate.get("accuracy"),
                "uri": info.uri,
            }
        )
    abandoned = reg.abandoned(args.model)
    if args.json:
        record = {"model": args.model, "live": live, "versions": rows, "abandoned": abandoned}
        print(json.dumps(record, indent=2))
        return 0
    print(f"{'':2}{'VERSION':>7}  {'COMPLETED (UTC)':<25} {'AUC':>7} {'ACCURACY':>8}  URI")
    for row in rows:
        mark = "* " if row["live"] else "  "
        print(
            f"{mark}{row['version']:>7}  {row['completed_at']:<25} "
            f"{_number(row['auc']):>7} {_number(row['accuracy']):>8}  {row['uri']}"
        )
    print(f"LIVE: {live if live is not None else 'none'}")
    if abandoned:
        print(
            f"{len(abandoned)} leftover(s) of failed or interrupted pushes in "
            f"{reg.model_uri(args.model)}/.staging/ (never visible; safe to delete): "
            + ", ".join(abandoned)
        )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from greenkfp.components.deployment.registry import Registry

    reg = Registry(args.registry)
    before, after = reg.rollback(args.model, args.to)
    print(f"{args.model}: LIVE {before if before is not None else 'none'} -> {after}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Runs ``greenkfp registry <action>``; returns the exit status."""
    from greenkfp.components._shared.errors import InputError

    handlers = {"list": _list, "rollback": _rollback}
    try:
        return handlers[args.registry_command](args)
    except InputError as err:
        return _fail(str(err))
