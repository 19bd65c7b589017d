"""A versioned model registry on a local path or ``gs://``, in the layout TF Serving reads.

The layout, its names and the atomic LIVE update are in
:mod:`greenkfp.components.deployment.registry_layout`; this module reads versions,
pushes new ones and moves LIVE (promotion and rollback).

Pushing (:meth:`Registry.push`) goes through named stages (:data:`STAGES`):

1. ``reserved``: the version number is taken with an exclusive create of
   ``.staging/<N>.reserved`` (``O_CREAT | O_EXCL`` locally); ``N`` is one more than every
   version published, reserved or present, so numbers only grow and two pushes never
   share one. A crashed push's number stays reserved and is skipped; a push that fails
   with an error removes what it wrote and releases its number (nothing with it was
   ever visible).
2. ``copying`` (after the first file), ``staged``: the model files go to
   ``.staging/<N>-<uuid>/`` locally; on object stores, straight to ``<N>/`` (invisible
   without ``_COMPLETE``).
3. ``verified``: the caller's check ran on the written bytes (canary predictions).
4. ``marked``: the caller's extra files (model card, metrics, ...), then ``_COMPLETE``.
5. ``published``: locally, a rename of the staged folder to ``<N>/`` (atomic); on
   object stores the marker was the publication.
6. ``live_written``: a temporary LIVE written (locally). 7. ``live``: LIVE replaced
   (``os.replace`` locally; one object write on GCS, where a write is atomic).

A crash at any stage leaves every visible version complete and LIVE naming a complete
version (the previous one until stage 7). LIVE only moves forward on a push: a push
whose version is older than LIVE (a concurrent, newer push won) publishes without
moving it. Locally, LIVE updates are serialized with ``fcntl.flock``; rollback moves
LIVE to any complete version.

Every push, rollback and retirement appends an entry to the model's hash-chained audit
log (:mod:`greenkfp.components.deployment.audit`) under the same lock, after its LIVE
update (a crash between the two leaves the action unrecorded, never a false record).
:meth:`Registry.retire` moves a version that is not LIVE out of the served set: locally
one rename of ``<N>/`` to ``.retired/<N>/``; on object stores its ``_COMPLETE`` marker
is moved there (one delete hides it; the files stay). Retired numbers are never reused.

Setting ``GREENKFP_REGISTRY_CRASH_AT=<stage>`` makes the process SIGKILL itself at that
stage; the crash tests use it.

This module imports no KFP and no TensorFlow (``tf.io.gfile`` only for non-local URIs).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from greenkfp.components._shared import io as uri_io
from greenkfp.components._shared.errors import InputError
from greenkfp.components._shared.model_artifact import SAVED_MODEL_PB
from greenkfp.components._shared.registry_reading import (
    COMPLETE_MARKER,
    LIVE_FILE,
    METRICS_FILE,
    VERSION,
    RegistryError,
    RegistryReader,
    VersionInfo,
    validate_model_name,
)
from greenkfp.components.deployment import audit
from greenkfp.components.deployment.registry_layout import (
    CRASH_ENV,
    LOCK_FILE,
    RESERVATION_SUFFIX,
    RETIRED_DIR,
    STAGES,
    STAGING_DIR,
    crash_point,
    live_lock,
    now,
    version_layout,
    write_live,
    write_order,
)

__all__ = [
    "COMPLETE_MARKER",
    "CRASH_ENV",
    "LIVE_FILE",
    "LOCK_FILE",
    "METRICS_FILE",
    "SAVED_MODEL_PB",
    "STAGES",
    "PushResult",
    "Registry",
    "RegistryError",
    "VersionInfo",
    "Verifier",
    "validate_model_name",
    "version_layout",
]

Verifier = Callable[[str], None]


@dataclass
class PushResult:
    """What a push did."""

    version: int
    uri: str
    live: bool
    previous_live: Optional[int]
    live_version: Optional[int]


class Registry(RegistryReader):
    """A registry that pushes, promotes and rolls back; reading is :class:`RegistryReader`'s."""

    def _staging(self, model: str) -> str:
        return uri_io.join(self.model_uri(model), STAGING_DIR)

    def retired(self, model: str) -> list[int]:
        """Returns the retired versions of a model, sorted."""
        folder = uri_io.join(self.model_uri(model), RETIRED_DIR)
        return sorted(int(n) for n in uri_io.listdir(folder) if VERSION.match(n))

    def abandoned(self, model: str) -> list[str]:
        """Returns leftovers of pushes that failed or crashed (staged folders), sorted."""
        return sorted(
            n
            for n in uri_io.listdir(self._staging(model))
            if not n.endswith((RESERVATION_SUFFIX, ".tmp")) and n != LOCK_FILE
        )

    # -- writing

    def _prepare(self, model: str) -> None:
        try:
            uri_io.makedirs(self._staging(model))
        except Exception as err:  # OSError locally; tf.errors.OpError through gfile
            raise RegistryError(
                f"registry {self.base_uri} is not writable: cannot create "
                f"{self._staging(model)}: {err}"
            ) from err

    def _reserve(self, model: str) -> int:
        staging = self._staging(model)
        reserved = [
            int(n[: -len(RESERVATION_SUFFIX)])
            for n in uri_io.listdir(staging)
            if n.endswith(RESERVATION_SUFFIX) and VERSION.match(n[: -len(RESERVATION_SUFFIX)])
        ]
        # numbered before retired: a version retired meanwhile is seen in one of the two
        numbered = self._numbered(model)
        candidate = max([0, *numbered, *self.retired(model), *reserved]) + 1
        claim = json.dumps({"pid": os.getpid(), "at": now(), "id": uuid.uuid4().hex}).encode()
        for _ in range(10_000):
            path = uri_io.join(staging, f"{candidate}{RESERVATION_SUFFIX}")
            if uri_io.create_exclusive(path, claim) and not uri_io.exists(
                self.version_uri(model, candidate)
            ):
                return candidate
            candidate += 1
        raise RegistryError(f"could not reserve a version under {self.model_uri(model)}")

    def _release(self, model: str, version: int) -> None:
        path = uri_io.join(self._staging(model), f"{version}{RESERVATION_SUFFIX}")
        with contextlib.suppress(Exception):
            uri_io.remove(path)

    def push(
        self,
        model: str,
        files: Sequence[tuple[str, str]],
        extra_files: Callable[[int, str], Mapping[str, bytes]] = lambda version, uri: {},
        verify: Optional[Verifier] = None,
        make_live: bool = True,
        reason: str = "",
    ) -> PushResult:
        """Publishes a new version atomically, verifies it, then moves LIVE forward.

        Args:
            model: The model name.
            files: ``(local source, path in the version)`` pairs, e.g. from
                :func:`version_layout`.
            extra_files: Called after ``verify`` with the reserved version and its URI;
                returns more files (name -> bytes) such as the model card, which names
                the version and the canary result.
            verify: Called with a local folder holding the written model files before
                the version is published; raising rejects the push (nothing becomes
                visible).
            make_live: Move LIVE to the new version (unless a newer one is live).
            reason: Why, for the audit log.

        Returns:
            The version, its URI and whether it went live.

        Raises:
            RegistryError: The registry is not writable.
            Exception: Whatever ``verify`` raised; the staged files are removed first.
        """
        validate_model_name(model)
        if not files:
            raise InputError("nothing to push: the file list is empty")
        self._prepare(model)
        version = self._reserve(model)
        crash_point("reserved")
        final = self.version_uri(model, version)
        staged = (
            uri_io.join(self._staging(model), f"{version}-{uuid.uuid4().hex[:12]}")
            if self.local
            else final
        )
        try:
            hashes = self._write_files(staged, files)
            crash_point("staged")
            if verify is not None:
                with self.local_copy(staged) as local:
                    verify(local)
            crash_point("verified")
            hashes.update(self._write_extras(staged, extra_files(version, final), hashes))
            marker = {"version": version, "completed_at": now(), "files": hashes}
            uri_io.write_bytes(
                uri_io.join(staged, COMPLETE_MARKER),
                json.dumps(marker, indent=2, sort_keys=True).encode(),
            )
            crash_point("marked")
        except BaseException:
            self._abandon(model, version, staged)
            raise
        # Publication, LIVE and the audit entry under one lock: a retire (same lock) never
        # takes a version whose push is not recorded yet or that is about to go LIVE.
        with live_lock(self.model_uri(model)):
            if self.local:
                try:
                    if uri_io.exists(final):
                        raise RegistryError(
                            f"{final} exists although version {version} was reserved"
                        )
                    uri_io.rename(staged, final)
                except BaseException:
                    self._abandon(model, version, staged)
                    raise
            crash_point("published")
            self._release(model, version)
            previous = self.live_version(model, check=False)
            # on object stores (no lock) a concurrent retire may have hidden it already
            live = (
                make_live
                and (previous is None or previous < version)
                and self.is_complete(model, version)
            )
            if live:
                write_live(self.model_uri(model), version)
            audit.append(
                self.model_uri(model),
                "push",
                version=version,
                version_hash=audit.content_sha256(hashes),
                live_before=previous,
                live_after=version if live else previous,
                reason=reason,
            )
        crash_point("live")
        return PushResult(
            version=version,
            uri=final,
            live=live,
            previous_live=previous,
            live_version=version if live else previous,
        )

    def _abandon(self, model: str, version: int, staged: str) -> None:
        with contextlib.suppress(Exception):  # the original error matters more
            uri_io.remove(staged)
        self._release(model, version)

    def _write_files(self, target: str, files: Sequence[tuple[str, str]]) -> dict[str, str]:
        hashes: dict[str, str] = {}
        for i, (source, rel) in enumerate(sorted(files, key=lambda f: write_order(f[1]))):
            uri_io.copy_file(source, uri_io.join(target, *rel.split("/")))
            hashes[rel] = uri_io.sha256_of(source)
            if i == 0:
                crash_point("copying")
        return hashes

    def _write_extras(
        self, target: str, extras: Mapping[str, bytes], written: Mapping[str, str]
    ) -> dict[str, str]:
        clash = sorted(set(extras) & (set(written) | {COMPLETE_MARKER}))
        if clash:
            raise InputError(f"files {clash} are both in the model and added by the push")
        hashes = {}
        for name, data in sorted(extras.items()):
            uri_io.write_bytes(uri_io.join(target, name), data)
            hashes[name] = hashlib.sha256(data).hexdigest()
        return hashes

    def _check_complete(self, model: str, version: int) -> None:
        if not self.is_complete(model, version):
            known = [v.version for v in self.versions(model)]
            retired = " (it is retired)" if version in self.retired(model) else ""
            raise RegistryError(
                f"{self.model_uri(model)} has no complete version {version}{retired}; "
                f"versions: {known}"
            )

    def set_live(self, model: str, version: int, reason: str = "") -> Optional[int]:
        """Makes a complete version live (atomically); returns the version live before.

        The move is recorded in the audit log as a ``rollback`` (any move of LIVE that is
        not a push).
        """
        self._check_complete(model, version)
        self._prepare(model)
        with live_lock(self.model_uri(model)):
            self._check_complete(model, version)  # not retired while we waited
            previous = self.live_version(model, check=False)
            write_live(self.model_uri(model), version)
            audit.append(
                self.model_uri(model),
                "rollback",
                version=version,
                version_hash=audit.version_sha256(self.version_uri(model, version)),
                live_before=previous,
                live_after=version,
                reason=reason,
            )
        return previous

    def retire(self, model: str, version: int, reason: str = "") -> str:
        """Moves a version that is not LIVE out of the served set, atomically; returns where.

        Raises:
            RegistryError: The version is LIVE, or not a complete version.
        """
        self._prepare(model)
        model_uri = self.model_uri(model)
        with live_lock(model_uri):
            self._check_complete(model, version)
            live = self.live_version(model, check=False)
            if live == version:
                raise RegistryError(
                    f"version {version} of {model_uri} is LIVE and cannot be retired; "
                    "roll LIVE to another version first"
                )
            source = self.version_uri(model, version)
            version_hash = audit.version_sha256(source)
            target = uri_io.join(model_uri, RETIRED_DIR, str(int(version)))
            uri_io.makedirs(uri_io.join(model_uri, RETIRED_DIR))
            if self.local:
                uri_io.rename(source, target)
            else:  # hide by the marker: one delete; the files stay where they were
                marker = uri_io.join(source, COMPLETE_MARKER)
                uri_io.write_bytes(uri_io.join(target, COMPLETE_MARKER), uri_io.read_bytes(marker))
                uri_io.remove(marker)
            audit.append(
                model_uri,
                "retire",
                version=version,
                version_hash=version_hash,
                live_before=live,
                live_after=live,
                reason=reason,
            )
        return target

    def rollback(
        self, model: str, to: Optional[int] = None, reason: str = ""
    ) -> tuple[Optional[int], int]:
        """Moves LIVE to the given version, or to the newest complete one before LIVE.

        Returns:
            ``(version live before, version live now)``.
        """
        versions = [v.version for v in self.versions(model)]
        if not versions:
            raise RegistryError(f"{self.model_uri(model)} has no complete version")
        if to is None:
            current = self.live_version(model)
            if current is None:
                raise RegistryError(f"nothing is live for {self.model_uri(model)}; give --to")
            older = [v for v in versions if v < current]
            if not older:
                raise RegistryError(
                    f"version {current} is the oldest complete version of "
                    f"{self.model_uri(model)}; nothing to roll back to"
                )
            to = older[-1]
        previous = self.set_live(model, to, reason=reason)
        return previous, to
