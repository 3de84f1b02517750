"""build/prod and build/dev Containerfiles: hadolint-clean, and built the way issue 4 requires."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from deploy_airflow_on_ecs_fargate import contract

from .helpers import CONTAINERFILES, DEV_CONTAINERFILE, PROD_CONTAINERFILE, ROOT, tool

DOCKERIGNORE = ROOT / ".dockerignore"


def instructions(containerfile: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in containerfile.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1].strip() + " "
            continue
        current += stripped
        if current:
            keyword, _, arguments = current.partition(" ")
            logical.append((keyword.upper(), arguments.strip()))
        current = ""
    return logical


def last(containerfile: Path, keyword: str) -> str:
    values = [arguments for instruction, arguments in instructions(containerfile) if instruction == keyword]
    assert values, f"{containerfile.relative_to(ROOT)} has no {keyword}"
    return values[-1]


def hadolint(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("hadolint"), "--format", "json", *args], capture_output=True, text=True, input=stdin, timeout=60
    )


@pytest.mark.parametrize("containerfile", CONTAINERFILES, ids=lambda path: path.parent.name)
def test_hadolint_is_clean(containerfile):
    result = hadolint(str(containerfile))
    findings = [f"{item['line']}: {item['code']} {item['message']}" for item in json.loads(result.stdout or "[]")]
    assert result.returncode == 0 and not findings, "\n".join(findings) or result.stderr


def test_hadolint_reports_findings():
    # The linter must be able to fail: an untagged base and unpinned, uncleaned apt-get install.
    result = hadolint("-", stdin="FROM debian\nRUN apt-get update && apt-get install -y curl\n")
    codes = {item["code"] for item in json.loads(result.stdout)}
    assert result.returncode == 1
    assert {"DL3006", "DL3008", "DL3009"} <= codes


@pytest.mark.parametrize("containerfile", CONTAINERFILES, ids=lambda path: path.parent.name)
def test_every_hadolint_ignore_is_justified(containerfile):
    lines = containerfile.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            reason = lines[number - 1].strip() if number else ""
            assert reason.startswith("#") and "hadolint" not in reason, (
                f"line {number + 1}: put the reason for '{line.strip()}' in a comment on the line above"
            )


@pytest.mark.parametrize("containerfile", CONTAINERFILES, ids=lambda path: path.parent.name)
def test_runs_as_a_non_root_user(containerfile):
    user = last(containerfile, "USER").split(":")[0]
    assert user not in ("root", "0")


@pytest.mark.parametrize("containerfile", CONTAINERFILES, ids=lambda path: path.parent.name)
def test_tini_is_pid_1_and_the_entrypoint_is_the_default_command(containerfile):
    assert json.loads(last(containerfile, "ENTRYPOINT")) == ["/usr/bin/tini", "--"]
    assert json.loads(last(containerfile, "CMD")) == ["python", "-m", "deploy_airflow_on_ecs_fargate", "api-server"]
    # tini comes from Debian, in the same step as the user
    assert any(
        "install" in arguments and " tini" in arguments
        for keyword, arguments in instructions(containerfile)
        if keyword == "RUN"
    )


def test_prod_health_check_is_the_contracts():
    healthcheck = last(PROD_CONTAINERFILE, "HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command == [*contract.HEALTH_COMMAND, "api-server"]
    options = dict(re.findall(r"--([a-z-]+)=(\d+)s?", healthcheck))
    assert {name: int(value) for name, value in options.items()} == {
        "interval": contract.HEALTH_INTERVAL_SECONDS,
        "timeout": contract.HEALTH_TIMEOUT_SECONDS,
        "start-period": contract.HEALTH_START_PERIOD_SECONDS,
        "retries": contract.HEALTH_RETRIES,
    }


def test_prod_exposes_the_contract_ports():
    assert sorted(int(port) for port in last(PROD_CONTAINERFILE, "EXPOSE").split()) == sorted(
        port.number for port in contract.PORTS
    )


@pytest.mark.parametrize("containerfile", CONTAINERFILES, ids=lambda path: path.parent.name)
def test_installs_exactly_the_locked_requirements(containerfile):
    copies = [arguments.split() for keyword, arguments in instructions(containerfile) if keyword == "COPY"]
    assert ["build/requirements/requirements.txt", "/opt/requirements.txt"] in copies
    install = next(
        arguments
        for keyword, arguments in instructions(containerfile)
        if keyword == "RUN" and "pip install" in arguments
    )
    for flag in (
        "--require-hashes",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",
        "--requirement /opt/requirements.txt",
    ):
        assert flag in install
    assert "pip check" in install


def test_dev_and_prod_share_the_base_and_dependency_layers():
    # Identical up to the pip install: one base, one lock, and the builder reuses the layers.
    def until_install(containerfile):
        steps = instructions(containerfile)
        end = next(i for i, (keyword, arguments) in enumerate(steps) if "pip install" in arguments)
        return steps[: end + 1]

    assert until_install(DEV_CONTAINERFILE) == until_install(PROD_CONTAINERFILE)


def test_no_secret_or_certificate_is_copied_or_baked_in():
    for containerfile in CONTAINERFILES:
        for keyword, arguments in instructions(containerfile):
            assert not (keyword in ("COPY", "ADD") and re.search(r"\.(crt|pem|key)\b|ca-certificates|\.aws", arguments))
            assert not (keyword == "ENV" and re.search(r"PIP_CERT|SSL_CERT|CA_BUNDLE|SECRET|PASSWORD", arguments))
            assert keyword != "ADD", "use COPY: ADD fetches URLs and unpacks archives"


def test_prod_copies_the_package_dags_and_plugins():
    targets = {arguments.split()[-1] for keyword, arguments in instructions(PROD_CONTAINERFILE) if keyword == "COPY"}
    assert {"/opt/airflow/deploy_airflow_on_ecs_fargate/", "/opt/airflow/dags/", "/opt/airflow/plugins/"} <= targets


def copy_sources() -> list[str]:
    return sorted(
        {
            arguments.split()[0]
            for containerfile in CONTAINERFILES
            for keyword, arguments in instructions(containerfile)
            if keyword == "COPY"
        }
    )


@pytest.mark.parametrize("source", copy_sources())
def test_copy_source_exists_in_a_fresh_clone(source):
    # git keeps no empty folder: a COPY of one fails in a clean checkout.
    path = ROOT / source
    assert path.exists(), f"{source} is missing"
    if path.is_dir():
        files = [child for child in path.rglob("*") if child.is_file() and "__pycache__" not in child.parts]
        assert files, f"{source} has no file, so a fresh clone lacks it: add one (e.g. {source.rstrip('/')}/README.md)"


@pytest.mark.parametrize("source", copy_sources())
def test_copy_source_is_in_the_build_context(source):
    # .dockerignore is an allowlist: '*' first, then one '!' line per thing the images copy.
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = [pattern[1:] for pattern in patterns if pattern.startswith("!")]
    assert any(source.rstrip("/") == entry.rstrip("/") or source.startswith(entry) for entry in allowed)


def test_build_context_keeps_out_the_virtualenv_and_caches():
    patterns = DOCKERIGNORE.read_text().splitlines()
    assert "*" in patterns  # everything not allowlisted: .venv, .git, .cache, .local, infrastructure
    assert not any(
        line.startswith("!") and line[1:].split("/")[0] in (".venv", ".git", ".cache", ".local", "")
        for line in patterns
    )
