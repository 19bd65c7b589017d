"""Writes the lock the image's final stage installs: the runtime lock, with built wheels added.

Runs in the builder stage of build/Dockerfile, with the standard library only. Every wheel
in the wheel folder either matches a hash the runtime lock already holds (a wheel from PyPI,
checked when it was downloaded), or was built here from a source archive whose hash the
lock checked: its own sha256 is added to that package's entry, so the final stage installs
every file with ``--require-hashes``. A wheel of a package the lock does not name must be
given with ``--add`` (the greenkfp wheel itself); any other wheel is an error.

    python lock_built_wheels.py LOCK WHEEL_DIR OUT [--add NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def canonical_name(name: str) -> str:
    """Returns the PEP 503 form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name_and_version(filename: str) -> tuple[str, str]:
    """Returns the canonical distribution name and the version of a wheel file name."""
    parts = filename[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise ValueError(f"not a wheel file name: {filename}")
    return canonical_name(parts[0]), parts[1]


def sha256_of(path: Path) -> str:
    """Returns the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def add_wheel_hashes(
    lock_text: str, wheels: dict[str, str], extra_names: frozenset[str] = frozenset()
) -> tuple[str, list[str]]:
    """Adds each wheel's hash to its package's entry in a ``--generate-hashes`` lock.

    Args:
        lock_text: The lock as uv or pip-tools write it: ``name==version``, a backslash,
            then one ``--hash=sha256:...`` line per file.
        wheels: Wheel file name -> its sha256.
        extra_names: Packages the lock does not name whose wheels get an entry of their own.

    Returns:
        The new lock text, and the file names of the wheels whose hash was added.

    Raises:
        ValueError: A wheel is of a package or version the lock does not pin.
    """
    lines = lock_text.splitlines()
    entries: dict[str, tuple[str, int]] = {}
    for index, line in enumerate(lines):
        match = ENTRY.match(line)
        if match:
            entries[canonical_name(match.group(1))] = (match.group(2), index)
    additions: dict[int, list[str]] = {}
    appended: list[str] = []
    added: list[str] = []
    for filename, digest in sorted(wheels.items()):
        name, version = wheel_name_and_version(filename)
        if name in entries:
            locked_version, start = entries[name]
            if locked_version != version:
                raise ValueError(f"{filename}: the lock pins {name}=={locked_version}")
            last = start
            while last + 1 < len(lines) and lines[last + 1].strip().startswith("--hash="):
                last += 1
            block = lines[start : last + 1]
            if any(f"--hash=sha256:{digest}" in line for line in block):
                continue
            additions.setdefault(last, []).append(digest)
        elif name in extra_names:
            appended.append(f"{name}=={version} \\\n    --hash=sha256:{digest}")
        else:
            raise ValueError(f"{filename}: {name} is not in the lock")
        added.append(filename)
    out: list[str] = []
    for index, line in enumerate(lines):
        if index not in additions:
            out.append(line)
            continue
        digests = additions[index]
        out.append(line.rstrip(" \\") + " \\")
        out.extend(f"    --hash=sha256:{d} \\" for d in digests[:-1])
        out.append(f"    --hash=sha256:{digests[-1]}")
    return "\n".join(out + appended) + "\n", added


def main(argv: list[str] | None = None) -> int:
    """Writes OUT from LOCK and the wheels in WHEEL_DIR; prints the wheels built here."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("wheel_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--add", action="append", default=[], help="package not in the lock")
    args = parser.parse_args(argv)
    wheels = {p.name: sha256_of(p) for p in sorted(args.wheel_dir.glob("*.whl"))}
    text, added = add_wheel_hashes(
        args.lock.read_text(), wheels, frozenset(canonical_name(n) for n in args.add)
    )
    args.out.write_text(text)
    for filename in added:
        print(f"hash of a wheel built here: {filename}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
