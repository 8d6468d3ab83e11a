"""Rewrite constraints.txt with the versions a fresh install resolved.

Usage: pip freeze | python .ci/update_constraints.py constraints.txt
Keeps the file's comments and its list of packages; only the versions change. A package of
the list that the freeze lacks is an error (so a dropped dependency is noticed).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*$")


def canonical(name: str) -> str:
    """Package names compare case-insensitively, with -, _ and . alike (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def frozen_versions(lines: list[str]) -> dict[str, str]:
    versions = {}
    for line in lines:
        match = PIN.match(line)
        if match:
            versions[canonical(match.group(1))] = match.group(2)
    return versions


def updated(text: str, versions: dict[str, str]) -> str:
    out, missing = [], []
    for line in text.splitlines():
        match = PIN.match(line)
        if not match:
            out.append(line)
            continue
        name = match.group(1)
        version = versions.get(canonical(name))
        if version is None:
            missing.append(name)
        out.append(f"{name}=={version or match.group(2)}")
    if missing:
        sys.exit(f"not installed by the fresh install: {', '.join(missing)}; remove their lines")
    return "\n".join(out) + "\n"


def main() -> None:
    path = Path(sys.argv[1])
    versions = frozen_versions(sys.stdin.read().splitlines())
    path.write_text(updated(path.read_text(), versions))


if __name__ == "__main__":
    main()
