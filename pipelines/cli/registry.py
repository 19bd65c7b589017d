"""``greenkfp registry``: list versions, roll LIVE back, retire versions, verify the audit log.

``greenkfp registry list --registry URI [--model NAME] [--json]``
``greenkfp registry rollback --registry URI --model NAME [--to VERSION] [--reason TEXT]``
``greenkfp registry retire --registry URI --model NAME (--version N | --keep-last N |
--older-than-days D | --below METRIC=VALUE) [--apply] [--reason TEXT]``
``greenkfp registry audit --registry URI --model NAME [--json]``

Bad input (a registry or model that does not exist, a version that is not complete, a
LIVE file that does not hold a complete version's number, retiring LIVE, in every
command) exits with status 2 and a message naming it. ``audit`` exits with status 1 and
names the first broken entry when the log's hash chain does not hold.
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
        help="list model registry versions, roll LIVE back, retire, audit",
        description="Inspect a greenkfp model registry (a local folder or gs:// URI written "
        "by deploy_model), move its LIVE pointer, retire versions and verify its audit log.",
    )
    actions = registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")

    def action(name: str, help: str, description: str, model_required: bool = True) -> Any:
        parser = actions.add_parser(name, help=help, description=description)
        parser.add_argument("--registry", required=True, help="registry base URI")
        parser.add_argument("--model", required=model_required, default=None, help="model name")
        return parser

    listing = action(
        "list",
        "list models, or the versions of one model",
        "Without --model, list the models; with it, list its complete versions "
        "(the LIVE one marked) and any leftovers of failed pushes.",
        model_required=False,
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    rollback = action(
        "rollback",
        "move LIVE to the previous (or a given) version",
        "Move LIVE, atomically, to the newest complete version before the live "
        "one, or to --to VERSION. Versions are never deleted.",
    )
    rollback.add_argument("--to", type=int, default=None, help="version to make live")
    rollback.add_argument("--reason", default="", help="why, for the audit log")
    retire = action(
        "retire",
        "retire versions (never LIVE) by number or by policy; dry-run by default",
        "Move versions out of the served set (to <model>/.retired/), by number "
        "or by a policy; LIVE is never retired. Prints the plan; --apply carries it out and "
        "records each retirement in the audit log.",
    )
    which = retire.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", type=int, default=None, help="retire this version")
    which.add_argument(
        "--keep-last", type=int, default=None, help="retire all but the newest N versions"
    )
    which.add_argument(
        "--older-than-days", type=float, default=None, help="retire versions older than D days"
    )
    which.add_argument(
        "--below", default=None, metavar="METRIC=VALUE", help="retire versions below a floor"
    )
    retire.add_argument("--apply", action="store_true", help="retire (default: dry run)")
    retire.add_argument("--reason", default="", help="why, for the audit log")
    audit = action(
        "audit",
        "verify a model's audit log and print it",
        "Verify the hash chain of a model's audit log (push, rollback, retire) "
        "and print its entries; exit 1 naming the first broken entry when it does not hold.",
    )
    audit.add_argument("--json", action="store_true", help="print JSON")
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
    retired = reg.retired(args.model)
    if args.json:
        record = {
            "model": args.model,
            "live": live,
            "versions": rows,
            "abandoned": abandoned,
            "retired": retired,
        }
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
    if retired:
        print(f"retired (never served): {', '.join(map(str, retired))}")
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
    before, after = reg.rollback(args.model, args.to, reason=args.reason)
    print(f"{args.model}: LIVE {before if before is not None else 'none'} -> {after}")
    return 0


def _retire(args: argparse.Namespace) -> int:
    from greenkfp.components.deployment.registry import Registry
    from greenkfp.components.deployment.retirement import parse_floor, plan_retirement

    reg = Registry(args.registry)
    plan = plan_retirement(
        reg,
        args.model,
        version=args.version,
        keep_last=args.keep_last,
        older_than_days=args.older_than_days,
        below=parse_floor(args.below) if args.below is not None else None,
    )
    for version, why in plan.skipped:
        print(f"  keep    version {version}: {why}")
    if not plan.retire:
        print(f"{args.model}: nothing to retire")
        return 0
    for version, why in plan.retire:
        if args.apply:
            target = reg.retire(args.model, version, reason=args.reason or why)
            print(f"  retired version {version} ({why}) -> {target}")
        else:
            print(f"  would retire version {version} ({why})")
    if not args.apply:
        print(f"{args.model}: dry run, nothing changed; add --apply to retire")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from greenkfp.components.deployment import audit
    from greenkfp.components.deployment.registry import Registry

    reg = Registry(args.registry)
    model_uri = reg.model_uri(args.model)
    if not audit.read_lines(model_uri):
        return _fail(f"model {args.model!r} has no audit log in {args.registry}")
    check = audit.verify(model_uri)
    if args.json:
        record = {"ok": check.ok, "broken_at": check.broken_at, "problem": check.problem}
        print(json.dumps({**record, "entries": check.entries}, indent=2))
    else:
        for entry in check.entries:
            reason = f": {entry.get('reason')}" if entry.get("reason") else ""
            before, after = (entry.get(k) for k in ("live_before", "live_after"))
            moved = f"LIVE {'none' if before is None else before} -> {after}"
            print(f"{audit.describe(entry)} ({moved}){reason}")
    if not check.ok:
        print(
            f"greenkfp registry: audit log {audit.audit_uri(model_uri)} is broken at entry "
            f"{check.broken_at}: it {check.problem}",
            file=sys.stderr,
        )
        return 1
    print(f"{args.model}: {len(check.entries)} entries, hash chain verified")
    return 0


def run(args: argparse.Namespace) -> int:
    """Runs ``greenkfp registry <action>``; returns the exit status."""
    from greenkfp.components._shared.errors import InputError

    handlers = {"list": _list, "rollback": _rollback, "retire": _retire, "audit": _audit}
    try:
        return handlers[args.registry_command](args)
    except InputError as err:
        return _fail(str(err))
