"""The locked runtime versions, as build/requirements/requirements.txt (the lock's export) pins them."""

from __future__ import annotations

import re
from pathlib import Path

from .paths import REQUIREMENTS

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def normalize(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(requirements: Path = REQUIREMENTS) -> dict[str, set[str]]:
    """name -> locked versions (two when the version depends on a marker, e.g. the Python version)."""
    versions: dict[str, set[str]] = {}
    for name, version in PIN.findall(requirements.read_text()):
        versions.setdefault(normalize(name), set()).add(version)
    return versions
