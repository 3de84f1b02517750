"""The production image for a deploy: its tag (the git commit), the tool that builds it (Docker
or podman), and the build, registry login and push commands.

A tag names one image for good (the repository's tags are immutable), so a tree with uncommitted
changes is refused unless asked for, and then tagged with a digest of those changes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from airflow_ecs_cli.aws import error_code
from airflow_ecs_cli.commands import Command
from airflow_ecs_cli.deployment import REPO_ROOT
from airflow_ecs_cli.errors import OperatorError, bad_input

CONTAINERFILE = Path("build/prod/Containerfile")
BUILDERS = ("docker", "podman")
# The settings' cpu_architecture; for ARM64 the image carries both, so a switch back needs no rebuild.
PLATFORMS = {"X86_64": ("linux/amd64",), "ARM64": ("linux/amd64", "linux/arm64")}
# As the stack's ImageTag parameter (infrastructure/airflow_ecs/stack.py); a test keeps them equal.
IMAGE_TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
SHA_LENGTH = 12


def check_tag(tag: str) -> str:
    if not re.fullmatch(IMAGE_TAG_PATTERN, tag) or tag == "latest":
        raise bad_input(
            f"--image-tag: {tag!r} is not an image tag: letters, digits, _ . - (a git sha or version, not latest)"
        )
    return tag


def _git(repo_root: Path, *arguments: str) -> str:
    try:
        result = subprocess.run(["git", *arguments], cwd=repo_root, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise OperatorError("git is not installed: the image is tagged with the commit (or pass --image-tag)") from None
    if result.returncode != 0:
        raise OperatorError(
            f"git {arguments[0]} failed in {repo_root}: {result.stderr.strip() or 'no output'} (or pass --image-tag)"
        )
    return result.stdout


def git_tag(repo_root: Path = REPO_ROOT, *, allow_dirty: bool = False) -> str:
    """The commit's short sha; with --allow-dirty and changes, `<sha>-dirty-<digest of the changes>`."""
    sha = _git(repo_root, "rev-parse", f"--short={SHA_LENGTH}", "HEAD").strip()
    changed = [line[3:] for line in _git(repo_root, "status", "--porcelain").splitlines() if line.strip()]
    if not changed:
        return sha
    if not allow_dirty:
        example = ", ".join(changed[:3]) + (", ..." if len(changed) > 3 else "")
        raise bad_input(
            f"the working tree has uncommitted changes ({len(changed)}: {example}): commit them so the image "
            "tag names the code, or pass --allow-dirty"
        )
    # Same changes, same tag: running deploy again finds the image already pushed.
    digest = hashlib.sha256(_git(repo_root, "diff", "HEAD", "--binary").encode())
    for name in sorted(_git(repo_root, "ls-files", "--others", "--exclude-standard").splitlines()):
        digest.update(name.encode())
        path = repo_root / name
        if path.is_file():
            digest.update(path.read_bytes())
    return f"{sha}-dirty-{digest.hexdigest()[:8]}"


def engine_answers(builder: str) -> bool:
    """Docker's client can be installed without a running engine; podman needs none."""
    if builder != "docker":
        return True
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def choose_builder(
    preferred: str | None,
    which: Callable[[str], str | None] = shutil.which,
    answers: Callable[[str], bool] = engine_answers,
) -> str:
    """Docker when its engine answers, else podman; `--builder` to choose."""
    if preferred is not None:
        if preferred not in BUILDERS:
            raise bad_input(f"--builder: {preferred!r} is not one of {', '.join(BUILDERS)}")
        if which(preferred) is None:
            raise OperatorError(f"--builder {preferred}: {preferred} is not installed or not on PATH")
        return preferred
    present = [builder for builder in BUILDERS if which(builder) is not None]
    for builder in present:
        if answers(builder):
            return builder
    if present:
        raise OperatorError(
            "docker is installed but its engine does not answer (`docker info`): start Docker, or install podman"
        )
    raise OperatorError(
        "no image build tool: install Docker (with buildx) or podman, or deploy an image already pushed with --image-tag"
    )


@dataclass(frozen=True)
class ImagePlan:
    builder: str
    repository_uri: str
    tag: str
    platforms: tuple[str, ...]
    context: Path = REPO_ROOT

    @property
    def reference(self) -> str:
        return f"{self.repository_uri}:{self.tag}"

    @property
    def registry(self) -> str:
        return self.repository_uri.split("/", 1)[0]

    @property
    def multi_platform(self) -> bool:
        return len(self.platforms) > 1

    def _command(self, *argv: str, stdin: str | None = None, may_fail: bool = False) -> Command:
        return Command(argv=argv, cwd=self.context, stdin=stdin, may_fail=may_fail)

    def build(self) -> list[Command]:
        platforms = ",".join(self.platforms)
        source = ("--file", str(CONTAINERFILE), ".")
        if self.builder == "docker":
            if self.multi_platform:
                # buildx keeps a multi-platform result in its cache; the push step sends it.
                return [
                    self._command(
                        "docker", "buildx", "build", "--platform", platforms, "--tag", self.reference, *source
                    )
                ]
            return [self._command("docker", "build", "--platform", platforms, "--tag", self.reference, *source)]
        # podman: docker format keeps the HEALTHCHECK (OCI has no such field; docs/decisions/0021).
        if self.multi_platform:
            return [
                # A manifest list left by an interrupted run would collect a second set of images.
                self._command("podman", "manifest", "rm", self.reference, may_fail=True),
                self._command(
                    "podman",
                    "build",
                    "--format",
                    "docker",
                    "--platform",
                    platforms,
                    "--manifest",
                    self.reference,
                    *source,
                ),
            ]
        return [
            self._command(
                "podman", "build", "--format", "docker", "--platform", platforms, "--tag", self.reference, *source
            )
        ]

    def login(self, password: str) -> Command:
        return self._command(
            self.builder, "login", "--username", "AWS", "--password-stdin", self.registry, stdin=password
        )

    def push(self) -> list[Command]:
        if self.builder == "docker" and self.multi_platform:
            platforms = ",".join(self.platforms)
            return [
                self._command(
                    "docker", "buildx", "build", "--platform", platforms, "--tag", self.reference, "--push",
                    "--file", str(CONTAINERFILE), ".",
                )
            ]  # fmt: skip
        if self.builder == "podman" and self.multi_platform:
            return [self._command("podman", "manifest", "push", "--all", self.reference, f"docker://{self.reference}")]
        return [self._command(self.builder, "push", self.reference)]


def repository_name(repository_uri: str) -> str:
    return repository_uri.split("/", 1)[1]


def in_registry(ecr: Any, repository_uri: str, tag: str) -> bool:
    try:
        ecr.describe_images(repositoryName=repository_name(repository_uri), imageIds=[{"imageTag": tag}])
    except ClientError as error:
        if error_code(error) in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return False
        raise
    return True


def registry_password(ecr: Any) -> str:
    """ECR's token is base64 of `AWS:<password>`; the password goes to the builder's standard input."""
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode().split(":", 1)[1]
