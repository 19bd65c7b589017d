"""The append-only, hash-chained audit log of a model in the registry.

``<base>/<model>/AUDIT.jsonl`` holds one JSON object per line, one per registry action
(``push``, ``rollback``, ``retire``)::

    {"seq": 3, "at": "...", "action": "retire", "actor": "alice", "reason": "...",
     "version": 2, "version_sha256": "...", "live_before": 3, "live_after": 3,
     "prev_sha256": "<SHA-256 of line 2>", "sha256": "<SHA-256 of this entry>"}

``sha256`` is the SHA-256 of the entry's canonical JSON without the ``sha256`` field;
``prev_sha256`` is the previous entry's ``sha256`` (64 zeros for the first). Changing
any entry breaks its own hash; changing and rehashing it breaks the next entry's
``prev_sha256``; deleting or reordering lines breaks ``seq`` and the chain.
:func:`verify` names the first entry where the chain does not hold. (Rewriting the
whole tail consistently is not detectable from the file alone: anchor the head hash
elsewhere, e.g. in the run's metadata, for that.)

Appends happen under the registry's LIVE lock (:func:`registry_layout.live_lock`), the
lock every LIVE move and retirement takes, so entries are in the order of the actions.
Locally a line is appended and fsynced; on object stores the file is rewritten whole
(one object write; there is no lock there, see the deployment README).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.registry_reading import COMPLETE_MARKER
from greenkfp.components.deployment.registry_layout import now

AUDIT_FILE = "AUDIT.jsonl"
ACTOR_ENV = "GREENKFP_ACTOR"
ACTIONS = ("push", "rollback", "retire")
GENESIS = "0" * 64
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
"""Mounted in Kubernetes pods; its JWT's ``sub`` names the service account."""


def _service_account() -> str:
    """``system:serviceaccount:<namespace>:<name>`` from the pod's token, or ``""``.

    Only the unsigned payload's ``sub`` claim is read (to name who acted); the token
    is never kept or logged.
    """
    import base64

    try:
        with open(SERVICE_ACCOUNT_TOKEN) as f:
            payload = f.read().strip().split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("sub") or "")
    except (OSError, IndexError, ValueError, AttributeError):
        return ""


def current_actor() -> str:
    """Who acts: ``GREENKFP_ACTOR``, else the pod's service account, else the OS user."""
    explicit = os.environ.get(ACTOR_ENV, "").strip()
    if explicit:
        return explicit
    account = _service_account()
    if account:
        return account
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no USER/LOGNAME and no passwd entry (some containers)
        return "unknown"


def content_sha256(files: Mapping[str, str]) -> str:
    """The content hash of a version: SHA-256 over its files' ``(path, SHA-256)`` pairs."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(f"{rel}\0{files[rel]}\n".encode())
    return digest.hexdigest()


def version_sha256(version_uri: str) -> str:
    """The content hash of a published version, from its ``_COMPLETE`` marker's file list."""
    marker = json.loads(uri_io.read_bytes(uri_io.join(version_uri, COMPLETE_MARKER)))
    return content_sha256(marker.get("files", {}))


def entry_sha256(entry: dict[str, Any]) -> str:
    """The SHA-256 of an entry's canonical JSON, without its own ``sha256`` field."""
    body = {k: v for k, v in entry.items() if k != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def audit_uri(model_uri: str) -> str:
    """Returns ``<model>/AUDIT.jsonl``."""
    return uri_io.join(model_uri, AUDIT_FILE)


def read_lines(model_uri: str) -> list[str]:
    """The log's lines (without line ends); empty when there is no log yet."""
    path = audit_uri(model_uri)
    if not uri_io.exists(path):
        return []
    return uri_io.read_bytes(path).decode("utf-8", "replace").splitlines()


def append(
    model_uri: str,
    action: str,
    *,
    version: int,
    version_hash: str,
    live_before: Optional[int],
    live_after: Optional[int],
    reason: str = "",
) -> dict[str, Any]:
    """Appends one entry; the caller holds the model's LIVE lock.

    Returns:
        The entry written.
    """
    if action not in ACTIONS:
        raise ValueError(f"audit action {action!r} is not one of {ACTIONS}")
    lines = read_lines(model_uri)
    previous = GENESIS
    if lines:
        try:
            previous = str(json.loads(lines[-1]).get("sha256") or GENESIS)
        except (ValueError, AttributeError):
            # a damaged last line: chain to its raw bytes, verify() still reports it
            previous = hashlib.sha256(lines[-1].encode()).hexdigest()
    entry: dict[str, Any] = {
        "seq": len(lines) + 1,
        "at": now(),
        "action": action,
        "actor": current_actor(),
        "reason": reason,
        "version": version,
        "version_sha256": version_hash,
        "live_before": live_before,
        "live_after": live_after,
        "prev_sha256": previous,
    }
    entry["sha256"] = entry_sha256(entry)
    line = json.dumps(entry, sort_keys=True) + "\n"
    path = audit_uri(model_uri)
    if uri_io.is_local(model_uri):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        uri_io.write_bytes(path, "".join(f"{x}\n" for x in lines).encode() + line.encode())
    return entry


@dataclass
class AuditCheck:
    """The result of :func:`verify`: the entries read and the first break, if any."""

    entries: list[dict[str, Any]]
    broken_at: Optional[int] = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        """Whether the whole chain holds."""
        return self.broken_at is None


def verify(model_uri: str) -> AuditCheck:
    """Checks every entry's hash, its link to the previous one and its sequence number.

    Returns:
        The entries up to the first break, with ``broken_at`` the 1-based line number of
        the first entry that does not hold and ``problem`` saying why.
    """
    entries: list[dict[str, Any]] = []
    previous = GENESIS
    for number, line in enumerate(read_lines(model_uri), start=1):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not a JSON object")
        except ValueError as err:
            return AuditCheck(entries, number, f"is not a JSON object ({err})")
        if entry.get("seq") != number:
            return AuditCheck(
                entries, number, f"has seq {entry.get('seq')!r}: an entry was removed or moved"
            )
        if entry.get("prev_sha256") != previous:
            return AuditCheck(
                entries, number, "does not chain to the entry before it (prev_sha256 differs)"
            )
        if entry.get("sha256") != entry_sha256(entry):
            return AuditCheck(entries, number, "was changed after it was written (hash differs)")
        entries.append(entry)
        previous = entry["sha256"]
    return AuditCheck(entries)


def describe(entry: dict[str, Any]) -> str:
    """One line naming an entry: ``#3 2026-... retire version 2 by alice``."""
    return (
        f"#{entry.get('seq')} {entry.get('at')} {entry.get('action')} version "
        f"{entry.get('version')} by {entry.get('actor')}"
    )
