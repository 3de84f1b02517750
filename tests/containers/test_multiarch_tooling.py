"""The arm64 half of `make image-smoke` (build/podman_image.py, build/images/): the parts that need
neither podman nor an emulator. The run itself is `make image-smoke` (decision 0065)."""

from __future__ import annotations

import argparse
import subprocess

import pytest

from build import podman_image
from build.images import base_standin, image_build, smoke
from build.images.commands import SmokeFailure

from .helpers import PROD_CONTAINERFILE


def test_the_emulator_is_found_only_when_binfmt_runs_arm64_binaries(tmp_path):
    handler = tmp_path / "qemu-aarch64"
    assert base_standin.emulation_available(handler) is False  # not registered
    handler.write_text("disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
    assert base_standin.emulation_available(handler) is False
    handler.write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n")
    assert base_standin.emulation_available(handler) is True


def test_each_architecture_has_its_own_stand_in_base():
    assert base_standin.standin_name("linux/amd64") == base_standin.STANDIN_BASE
    assert base_standin.standin_name("linux/arm64") == f"{base_standin.STANDIN_BASE}-arm64"
    with pytest.raises(KeyError):
        base_standin.standin_name("linux/s390x")


def test_the_arm64_build_names_its_platform_and_its_base():
    command = image_build.build_command(
        "img:tag-arm64",
        base_standin.standin_name("linux/arm64"),
        PROD_CONTAINERFILE,
        no_cache=False,
        platform="linux/arm64",
        ca_bundle=None,
    )
    assert command[command.index("--platform") + 1] == "linux/arm64"
    assert f"PYTHON_BASE={base_standin.STANDIN_BASE}-arm64" in command


def _arguments(**overrides) -> argparse.Namespace:
    defaults = {"image": "img:tag", "base": "auto", "pull_timeout": 1.0, "no_cache": False, "arm64": "auto"}
    return argparse.Namespace(**{**defaults, **overrides})


def test_without_an_emulator_the_arm64_pass_is_skipped_or_fails_when_required(monkeypatch):
    monkeypatch.setattr(base_standin, "emulation_available", lambda: False)
    skipped = podman_image.arm64_pass(_arguments())
    assert str(skipped["arm64"]).startswith("skipped: this machine cannot run arm64 binaries")
    with pytest.raises(SmokeFailure, match="apt-get install qemu-user-static binfmt-support"):
        podman_image.arm64_pass(_arguments(arm64="yes"))
    assert podman_image.arm64_pass(_arguments(arm64="no")) == {"arm64": "not asked for (--arm64 no)"}


def test_the_arm64_option_defaults_to_auto_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv("IMAGE_ARM64", raising=False)
    assert podman_image.parse_arguments(["smoke"]).arm64 == "auto"
    monkeypatch.setenv("IMAGE_ARM64", "no")
    assert podman_image.parse_arguments(["smoke"]).arm64 == "no"


def test_an_emulated_check_waits_longer_and_does_not_hold_the_health_answer_to_5_s(monkeypatch):
    calls = []

    def fake_run(command, *, check=True, timeout=None, env=None):
        calls.append(timeout)
        return subprocess.CompletedProcess(command, 1, stdout="unhealthy: nothing listens\n", stderr="")

    clock = iter([0.0, 25.0])  # the health command answers after 25 s, as under qemu
    monkeypatch.setattr(smoke, "run", fake_run)
    monkeypatch.setattr(smoke.time, "monotonic", lambda: next(clock))
    monkeypatch.setitem(smoke._slowdown, "factor", smoke.EMULATION_SLOWDOWN)
    assert smoke.check_health_command("img", timed=False) == {"health_seconds": 25.0}
    assert calls == [30 * smoke.EMULATION_SLOWDOWN]
    clock = iter([0.0, 25.0])
    with pytest.raises(SmokeFailure, match="within 5 s"):
        smoke.check_health_command("img", timed=True)


def test_pid_1_is_read_past_the_emulator_that_runs_it():
    # Under qemu-user /proc/1/cmdline starts with the binfmt interpreter and the program's path.
    emulated = "/usr/libexec/qemu-binfmt/aarch64-binfmt-P /usr/bin/tini /usr/bin/tini -- cat /proc/1/cmdline"
    assert smoke.without_emulator(emulated) == "/usr/bin/tini -- cat /proc/1/cmdline"
    assert smoke.without_emulator("/usr/bin/tini -- cat /proc/1/cmdline") == "/usr/bin/tini -- cat /proc/1/cmdline"
