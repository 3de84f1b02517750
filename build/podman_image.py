"""Build the production image with podman and smoke-test it, with no registry and no Docker engine.

    python3 build/podman_image.py build    # build build/prod/Containerfile  (make image)
    python3 build/podman_image.py smoke    # build, then check the image     (make image-smoke);
                                           # then the arm64 image, run under qemu when the
                                           # machine can (--arm64 auto), and a manifest list of both
    python3 build/podman_image.py stack    # smoke, then docker-compose.yml's services in a pod
                                           #                                 (make compose-smoke)

The command line only: each step lives in build/images/ (one module per concern), and
docs/decisions/0021-image-smoke-with-podman.md says why it works this way. build and smoke use
the standard library only: they run before (and without) the project's virtual environment.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

# The tooling and the runtime contract are imported from the repository root, whichever python3 runs this.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from build.images import base_standin, image_build, podman, smoke
from build.images.commands import SmokeFailure, log
from build.images.paths import CONTAINERFILE, DEV_CONTAINERFILE, SUMMARY, shown

DEFAULT_IMAGE = "localhost/deploy-airflow-on-ecs-fargate:dev"
DEV_IMAGE = "localhost/deploy-airflow-on-ecs-fargate-dev:local"
ACTIONS = ("build", "smoke", "stack")
ARM64_MODES = ("auto", "yes", "no")
ARM64 = "linux/arm64"


class OneLineErrorParser(argparse.ArgumentParser):
    """A bad argument is one line and exit 2, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineErrorParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "action",
        choices=ACTIONS,
        help="build the image; smoke: build and check it; stack: smoke, then run"
        " docker-compose.yml's services in a podman pod",
    )
    parser.add_argument("--image", default=os.environ.get("IMAGE", DEFAULT_IMAGE), help="tag of the built image")
    parser.add_argument(
        "--base",
        choices=base_standin.MODES,
        default="auto",
        help="auto: the upstream base if present or pullable, else the debootstrap stand-in",
    )
    parser.add_argument("--pull-timeout", type=float, default=20.0, help="seconds to wait for a base image pull")
    parser.add_argument("--no-cache", action="store_true", help="rebuild every layer (to measure a full build)")
    parser.add_argument("--platform", help="e.g. linux/arm64 (needs an arm64 base and qemu-user-static)")
    parser.add_argument(
        "--arm64",
        choices=ARM64_MODES,
        default=os.environ.get("IMAGE_ARM64", "auto"),
        help="smoke: also build and check the arm64 (Graviton) image under qemu; auto: when this machine "
        "runs arm64 binaries (qemu-user-static and binfmt_misc), yes: fail when it cannot",
    )
    parser.add_argument("--dev", action="store_true", help="also build build/dev/Containerfile")
    return parser.parse_args(argv)


def execute(args: argparse.Namespace) -> dict[str, object]:
    """The steps the action asks for, in order; their measurements for the summary."""
    podman.ensure_tools()
    podman.configure()
    base = base_standin.choose_base(args.base, args.pull_timeout)
    build_seconds = image_build.build(args.image, base, CONTAINERFILE, no_cache=args.no_cache, platform=args.platform)
    summary: dict[str, object] = {
        "image": args.image,
        "base": base,
        "build_seconds": round(build_seconds),
        "no_cache": args.no_cache,
    }
    if args.dev or args.action == "stack":
        dev_seconds = image_build.build(DEV_IMAGE, base, DEV_CONTAINERFILE, no_cache=False, platform=args.platform)
        summary["dev_build_seconds"] = round(dev_seconds)
    if args.action in ("smoke", "stack"):
        summary.update(smoke.smoke(args.image))
    if args.action == "smoke" and args.platform is None:
        summary.update(arm64_pass(args))
    if args.action == "stack":
        # Imported here: the stack needs the project's venv, build and smoke must not.
        from build.images import stack

        summary.update(stack.run_stack(DEV_IMAGE, base))
    return summary


def arm64_pass(args: argparse.Namespace) -> dict[str, object]:
    """The Graviton image: built from the same Containerfile and lock for arm64, checked under qemu,
    and put with the amd64 image into one manifest list (what a registry serves to both)."""
    if args.arm64 == "no":
        return {"arm64": "not asked for (--arm64 no)"}
    if not base_standin.emulation_available():
        reason = (
            "this machine cannot run arm64 binaries: apt-get install qemu-user-static binfmt-support "
            "(without systemd, also: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; "
            "update-binfmts --enable qemu-aarch64)"
        )
        if args.arm64 == "yes":
            raise SmokeFailure(reason)
        log(f"skip arm64 image: {reason}")
        return {"arm64": f"skipped: {reason}"}
    arm64_image = f"{args.image}-arm64"
    base = base_standin.choose_base(args.base, args.pull_timeout, ARM64)
    seconds = image_build.build(arm64_image, base, CONTAINERFILE, no_cache=args.no_cache, platform=ARM64)
    started = time.monotonic()
    checks = smoke.smoke(arm64_image, architecture="arm64", emulated=True)
    manifest = podman.manifest(f"{args.image}-multiarch", [args.image, arm64_image])
    return {
        "arm64": {
            "image": arm64_image,
            "base": base,
            "build_seconds": round(seconds),
            "emulated_checks_seconds": round(time.monotonic() - started),
            **checks,
        },
        "manifest": manifest,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    started = time.monotonic()
    try:
        summary = execute(args)
    except SmokeFailure as failure:
        log(f"FAIL {failure}")
        return 1
    except subprocess.TimeoutExpired as timeout:
        log(f"FAIL {' '.join(map(str, timeout.cmd[:4]))} ... did not finish within {timeout.timeout:.0f} s")
        return 1
    summary["total_seconds"] = round(time.monotonic() - started)
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
    log(f"done in {summary['total_seconds']} s; summary in {shown(SUMMARY)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
