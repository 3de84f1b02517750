"""Paths and tool lookup shared by the container tests."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from deploy_airflow_on_ecs_fargate import contract

ROOT = Path(__file__).resolve().parents[2]
PROD_CONTAINERFILE = ROOT / "build" / "prod" / "Containerfile"
DEV_CONTAINERFILE = ROOT / "build" / "dev" / "Containerfile"
CONTAINERFILES = (PROD_CONTAINERFILE, DEV_CONTAINERFILE)
REQUIREMENTS = ROOT / "build" / "requirements" / "requirements.txt"
COMPOSE_FILE = ROOT / "docker-compose.yml"

COMPONENTS = contract.LONG_RUNNING_NAMES
ENTRYPOINT = list(contract.ENTRYPOINT)
HEALTH_COMMAND = list(contract.HEALTH_COMMAND)


def tool(name: str) -> str:
    """A binary of the project's virtual environment (test group), else one on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} not found in {candidate.parent} or on PATH: run `make install`")
    return found
