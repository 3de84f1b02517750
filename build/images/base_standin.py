"""The base image: the Containerfile's own (ARG PYTHON_BASE) when present or pullable, else a
stand-in made with debootstrap from Debian's mirror, since no container registry may be reachable.

The stand-in is Debian bookworm with its Python 3.11, trimmed and configured like a -slim image;
it is passed to the build as PYTHON_BASE, never tagged with the upstream name, and the
Containerfile is not changed for it. For arm64 (the Graviton image) debootstrap builds an arm64
root file system, which needs the host to run arm64 binaries: qemu-user-static registered with
binfmt_misc (`emulation_available`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

from . import podman
from .commands import SmokeFailure, log, run
from .paths import CONTAINERFILE, STATE, shown

STANDIN_BASE = "localhost/python-standin:3.11-slim-bookworm"
# Debian's name of each architecture, by the platform podman builds for.
DEBIAN_ARCHITECTURES = {"linux/amd64": "amd64", "linux/arm64": "arm64"}
# The kernel runs foreign binaries through this handler when qemu-user-static is registered.
BINFMT_ARM64 = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
MODES = ("auto", "upstream", "standin")

# Debian's -slim images (the base of python:*-slim) configure apt and dpkg to keep no package
# caches, docs, man pages or translations; the stand-in does the same, so layers built on it
# have the sizes they would have on the real base.
SLIM_APT_CONF = """\
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
"""
SLIM_DPKG_CONF = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
"""
# What a python:*-slim image leaves out of Debian; debootstrap's minbase keeps all of it.
STANDIN_TRIM = (
    "var/cache/apt/archives",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/log",
)


def upstream_base(containerfile: Path = CONTAINERFILE) -> str:
    """The base image the Containerfile names (its PYTHON_BASE default): one place decides it."""
    match = re.search(r"^ARG PYTHON_BASE=(\S+)$", containerfile.read_text(), re.MULTILINE)
    if not match:
        raise SmokeFailure(f"{shown(containerfile)} has no 'ARG PYTHON_BASE=<image>' line")
    return match.group(1)


def standin_name(platform: str = "linux/amd64") -> str:
    """The stand-in's tag: the plain name for amd64 (as before), with the architecture otherwise."""
    arch = DEBIAN_ARCHITECTURES[platform]
    return STANDIN_BASE if arch == "amd64" else f"{STANDIN_BASE}-{arch}"


def emulation_available(handler: Path = BINFMT_ARM64) -> bool:
    """arm64 binaries run here: qemu-aarch64 registered with binfmt_misc and enabled."""
    try:
        return handler.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        return False


def choose_base(mode: str, pull_timeout: float, platform: str = "linux/amd64") -> str:
    """auto: upstream if present or pullable, else the stand-in; upstream: that or fail; standin."""
    upstream = upstream_base()
    if mode in ("auto", "upstream"):
        if platform == "linux/amd64" and podman.image_exists(upstream):
            return upstream
        try:
            pull = ["podman", "pull", "--quiet", "--platform", platform, upstream]
            pulled = run(pull, check=False, timeout=pull_timeout)
            if pulled.returncode == 0:
                return upstream
            reason = (pulled.stderr.strip().splitlines() or ["no output"])[-1]
        except subprocess.TimeoutExpired:
            reason = f"no answer within {pull_timeout:.0f} s"
        if mode == "upstream":
            raise SmokeFailure(f"cannot pull {upstream}: {reason}")
        log(f"note {upstream} ({platform}) cannot be pulled ({reason[:120]}); using a local stand-in")
    name = standin_name(platform)
    if not podman.image_exists(name):
        build_standin(platform)
    return name


def build_standin(platform: str = "linux/amd64") -> None:
    """A -slim-like Debian bookworm with Python 3.11, imported into podman as the platform's stand-in."""
    arch = DEBIAN_ARCHITECTURES[platform]
    name = standin_name(platform)
    rootfs = STATE / f"standin-rootfs-{arch}"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    started = time.monotonic()
    run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--arch={arch}",
            "--include=python3,python3-venv,ca-certificates",
            "bookworm",
            str(rootfs),
            DEBIAN_MIRROR,
        ],
        # Under emulation the second stage (dpkg configuring every package) takes minutes.
        timeout=3600,
    )
    trim_like_slim(rootfs)
    archive = STATE / f"standin-rootfs-{arch}.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    changes = ["--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]']
    run(["podman", "import", "--arch", arch, "--os", "linux", *changes, str(archive), name])
    archive.unlink()
    shutil.rmtree(rootfs)
    log(f"ok   base stand-in {name} built in {time.monotonic() - started:.0f} s (debootstrap, {arch})")


def trim_like_slim(rootfs: Path) -> None:
    """Remove what a -slim image leaves out and keep it out of later layers (apt and dpkg settings)."""
    for relative in STANDIN_TRIM:
        path = rootfs / relative
        if path.is_dir():
            shutil.rmtree(path)
            path.mkdir()
        elif path.exists():
            path.unlink()
    (rootfs / "etc" / "apt" / "apt.conf.d" / "docker-clean").write_text(SLIM_APT_CONF)
    (rootfs / "etc" / "dpkg" / "dpkg.cfg.d" / "docker").write_text(SLIM_DPKG_CONF)
