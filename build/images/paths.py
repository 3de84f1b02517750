"""Where the image tooling reads the project and keeps podman's state."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "build" / "prod" / "Containerfile"
DEV_CONTAINERFILE = ROOT / "build" / "dev" / "Containerfile"
REQUIREMENTS = ROOT / "build" / "requirements" / "requirements.txt"
COMPOSE_FILE = ROOT / "docker-compose.yml"
VENV = ROOT / ".venv"
# podman's storage and configuration, the stand-in's rootfs and the summary (gitignored).
STATE = ROOT / ".cache" / "containers"
SUMMARY = STATE / "image-smoke.json"


def shown(path: Path) -> str:
    """A path as messages show it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
