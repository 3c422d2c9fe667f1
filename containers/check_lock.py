"""Fail the image build if anything in the environment is not at its locked version.

Why: `pip install -c requirements.lock` only pins what the lock names; a new transitive
dependency would float silently. Run inside the image's venv after the install:
    python check_lock.py requirements.lock
Compares public versions, so the CPU index's torch 2.x.y+cpu satisfies torch==2.x.y.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

# installed by venv/pip themselves, or the package under test
EXEMPT = {"pip", "gnnimpute", "wheel"}


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main(lock_path: str) -> int:
    pins = {}
    for line in open(lock_path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canon(name)] = version
    bad = []
    for dist in metadata.distributions():
        name = canon(dist.metadata["Name"])
        version = dist.version.split("+", 1)[0]
        if name in EXEMPT:
            continue
        if name not in pins:
            bad.append(f"{name}=={version} is not in the lock")
        elif pins[name] != version:
            bad.append(f"{name}=={version} but the lock says {pins[name]}")
    for line in sorted(bad):
        print(f"check_lock: {line}", file=sys.stderr)
    if not bad:
        print(f"check_lock: every installed package matches {lock_path}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
