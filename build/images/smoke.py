"""The checks of the built production image, one line each; the first failure stops the run.

What AWS runs must start the way the runtime contract says (docs/runtime-contract.md): the health
command answers in time, Airflow is the locked version, every installed distribution is locked,
bytecode is present, the image runs as non-root behind tini with the entrypoint as its command,
SIGTERM reaches the component, nothing of the build's TLS set-up is left, and it fits the size limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

from deploy_airflow_on_ecs_fargate import contract

from . import layer_scan, podman
from .commands import SmokeFailure, log, run
from .lock import locked_versions, normalize

SIZE_LIMIT_BYTES = 800 * 1000 * 1000  # issue 4: at most 800 MB uncompressed
# The Containerfile's CMD and HEALTHCHECK name this component.
DEFAULT_COMPONENT = "api-server"
# Installed by pip into every venv, not part of the lock.
PIP_OWN_PACKAGES = {"pip", "setuptools", "wheel"}
# Settings the build uses for TLS behind a proxy; none may stay in the image's environment.
BUILD_TLS_SETTINGS = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
# Exit status of the SIGTERM probe's handler: proof the signal reached it (tini passes it on).
SIGTERM_PROBE_EXIT = 42

# Imports what a task process imports (the worker's preload) and lists every module whose
# bytecode file is missing: the code is root-owned and the image runs as another user, so such a
# module would be compiled again by every process and every task (decision 0005).
BYTECODE_PROBE = f"""\
import json, os, sys
from {contract.PACKAGE} import worker_preload
worker_preload.preload()
cached = [m for m in list(sys.modules.values()) if getattr(m, '__cached__', None)]
missing = sorted(m.__name__ for m in cached if not os.path.exists(m.__cached__))
print(json.dumps({{'modules': len(cached), 'missing': missing}}))
"""
SIGTERM_PROBE = f"""\
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit({SIGTERM_PROBE_EXIT}))
print('ready', flush=True)
time.sleep(60)
"""

Results = dict[str, Any]


# Under qemu a Python start that takes 1 s natively takes 10-30 s: every timeout stretches by this.
EMULATION_SLOWDOWN = 10
_slowdown = {"factor": 1}


def podman_run(image: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A throwaway container of the image, without network: the checks need none."""
    return run(
        ["podman", "run", "--rm", "--pull=never", "--network", "none", image, *args],
        check=False,
        timeout=timeout * _slowdown["factor"],
    )


# podman's architecture names and what `uname -m` says inside a container of each.
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}


def smoke(image: str, *, architecture: str = "amd64", emulated: bool = False) -> Results:
    """Run every check in order; return the measurements. Raises SmokeFailure on the first failure.

    `emulated`: the image runs under qemu (arm64 on this x86 machine), many times slower, so the
    checks that measure time (the health command's 5 s) check only what it says, and waits are longer."""
    meta = podman.inspect_image(image)
    results: Results = {}
    _slowdown["factor"] = EMULATION_SLOWDOWN if emulated else 1
    results.update(check_architecture(image, meta, architecture))
    results.update(check_health_command(image, timed=not emulated))
    results.update(check_airflow_version(image))
    check_bytecode(image)
    check_installed_versions(image)
    check_user_init_and_metadata(image, meta, emulated=emulated)
    check_sigterm_forwarding(image, start_seconds=300 if emulated else 30)
    check_no_build_tls_leftovers(image, meta)
    results.update(check_size(meta))
    return results


def check_architecture(image: str, meta: dict[str, Any], architecture: str) -> Results:
    """The image is built for the architecture asked for, and its binaries run as that machine."""
    machine = podman_run(image, "uname", "-m").stdout.strip()
    if meta.get("Architecture") != architecture or machine != MACHINES[architecture]:
        raise SmokeFailure(
            f"expected a {architecture} image running as {MACHINES[architecture]}, "
            f"got {meta.get('Architecture')} running as {machine or '?'}"
        )
    log(f"ok   {architecture} image; its containers run as {machine}")
    return {"architecture": architecture}


def check_health_command(image: str, *, timed: bool = True) -> Results:
    """Nothing listens in the container, so the health command must say so: exit 1, one line, fast."""
    deadline = contract.HEALTH_ANSWER_SECONDS if timed else float("inf")
    started = time.monotonic()
    health = podman_run(image, *contract.HEALTH_COMMAND, DEFAULT_COMPONENT, timeout=30)
    elapsed = time.monotonic() - started
    lines = health.stdout.strip().splitlines()
    if health.returncode != 1 or len(lines) != 1 or elapsed > deadline:
        raise SmokeFailure(
            f"health {DEFAULT_COMPONENT}: expected exit 1 with one line within {deadline:.0f} s,"
            f" got exit {health.returncode}, {len(lines)} lines, {elapsed:.1f} s:"
            f" {health.stdout.strip()[:300]} {health.stderr.strip()[-300:]}"
        )
    how = "container start included" if timed else "under emulation: not held to the 5 s"
    log(f"ok   health {DEFAULT_COMPONENT} -> exit 1 in {elapsed:.1f} s ({how}): {lines[0]}")
    return {"health_seconds": round(elapsed, 2)}


def check_airflow_version(image: str) -> Results:
    """`airflow version` is the locked version; also the time a cold CLI start takes."""
    (expected,) = locked_versions()["apache-airflow"]
    started = time.monotonic()
    version = podman_run(image, "airflow", "version")
    elapsed = time.monotonic() - started
    reported = (version.stdout.strip().splitlines() or [""])[-1]
    if version.returncode != 0 or reported != expected:
        raise SmokeFailure(
            f"airflow version: expected {expected}, got exit {version.returncode}:"
            f" {version.stdout.strip()[-200:]} {version.stderr.strip()[-300:]}"
        )
    log(f"ok   airflow version -> {reported} in {elapsed:.1f} s (cold start, container included)")
    return {"airflow_version": reported, "airflow_version_seconds": round(elapsed, 2)}


def check_bytecode(image: str) -> None:
    bytecode = podman_run(image, "python", "-c", BYTECODE_PROBE)
    try:
        found = json.loads(bytecode.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        found = None
    if bytecode.returncode != 0 or not found or found["missing"]:
        missing = ", ".join(found["missing"][:5]) if found else "the probe printed nothing"
        raise SmokeFailure(
            f"modules a task imports have no bytecode in the image: {missing} {bytecode.stderr.strip()[-300:]}"
        )
    log(f"ok   all {found['modules']} modules a task process imports have their bytecode in the image")


def check_installed_versions(image: str) -> None:
    """Exactly the lock: every installed distribution is a locked one at the locked version."""
    listing = podman_run(image, "python", "-m", "pip", "list", "--format", "json", "--disable-pip-version-check")
    installed = {normalize(item["name"]): item["version"] for item in json.loads(listing.stdout or "[]")}
    locked = locked_versions()
    drift = sorted(
        f"{name}=={version} (lock: {' or '.join(sorted(locked.get(name, {'absent'})))})"
        for name, version in installed.items()
        if name not in PIP_OWN_PACKAGES and version not in locked.get(name, set())
    )
    if listing.returncode != 0 or drift:
        raise SmokeFailure(f"installed packages differ from the lock: {', '.join(drift) or listing.stderr[-300:]}")
    log(
        f"ok   {len(installed) - len(PIP_OWN_PACKAGES & installed.keys())} installed distributions,"
        " each at its locked version"
    )


def without_emulator(cmdline: str) -> str:
    """A command line as the program was started: under qemu-user (binfmt's P flag) the kernel
    starts `<qemu interpreter> <program path> <argv0> <args>`, and /proc shows that."""
    words = cmdline.split(" ")
    if words and "qemu" in words[0]:
        return " ".join(words[2:])
    return cmdline


def check_user_init_and_metadata(image: str, meta: dict[str, Any], *, emulated: bool = False) -> None:
    """Non-root, tini as PID 1, the entrypoint as default command, the health check in the metadata."""
    uid = podman_run(image, "id", "-u").stdout.strip()
    if uid in ("", "0"):
        raise SmokeFailure(f"the image runs as uid {uid or '?'}; it must not run as root")
    pid1 = podman_run(image, "cat", "/proc/1/cmdline").stdout.replace("\0", " ").strip()
    if emulated:
        pid1 = without_emulator(pid1)
    if not pid1.startswith("/usr/bin/tini -- "):
        raise SmokeFailure(f"PID 1 is '{pid1}', expected tini")
    config = meta.get("Config", {})
    cmd = config.get("Cmd") or []
    if cmd != [*contract.ENTRYPOINT, DEFAULT_COMPONENT]:
        raise SmokeFailure(f"default command is {cmd}, expected the entrypoint")
    health_test = (meta.get("Healthcheck") or config.get("Healthcheck") or {}).get("Test") or []
    if f"{contract.PACKAGE}.health" not in health_test:
        raise SmokeFailure(f"no HEALTHCHECK with the health command in the image metadata: {health_test}")
    log(f"ok   runs as uid {uid}; PID 1 is tini; default command and HEALTHCHECK use the runtime contract")


def check_sigterm_forwarding(image: str, *, start_seconds: float = 30) -> None:
    """SIGTERM reaches the component through tini (Celery's warm shutdown depends on it)."""
    name = f"image-smoke-sigterm-{os.getpid()}"
    detached = ["podman", "run", "--detach", "--name", name, "--pull=never", "--network", "none"]
    run([*detached, image, "python", "-c", SIGTERM_PROBE])
    try:
        deadline = time.monotonic() + start_seconds
        while "ready" not in run(["podman", "logs", name], check=False).stdout:
            if time.monotonic() > deadline:
                raise SmokeFailure(f"the SIGTERM probe did not start within {start_seconds:.0f} s")
            time.sleep(0.2)
        started = time.monotonic()
        run(["podman", "stop", "--time", "20", name])
        stopped_in = time.monotonic() - started
        code = podman.exit_code(name)
    finally:
        run(["podman", "rm", "--force", name], check=False)
    if code != str(SIGTERM_PROBE_EXIT):
        raise SmokeFailure(
            f"SIGTERM did not reach the process behind PID 1 (exit {code}, expected {SIGTERM_PROBE_EXIT})"
        )
    log(f"ok   SIGTERM forwarded to the component: its handler ran, stopped in {stopped_in:.1f} s")


def check_no_build_tls_leftovers(image: str, meta: dict[str, Any]) -> None:
    """Nothing from the build's TLS set-up is left: no setting, and no layer holds a locally added CA."""
    env = meta.get("Config", {}).get("Env") or []
    leaked = [item for item in env if item.split("=", 1)[0] in BUILD_TLS_SETTINGS]
    if leaked:
        raise SmokeFailure(f"build-time setting left in the image environment: {leaked}")
    markers = layer_scan.local_ca_markers()
    hits = layer_scan.scan_image(image, markers)
    if hits:
        raise SmokeFailure(f"a build host's CA is in the image layers: {', '.join(hits[:5])}")
    log(f"ok   no build-time setting; none of the host's {len(markers)} locally added CA(s) in any layer")


def check_size(meta: dict[str, Any]) -> Results:
    size = int(meta["Size"])
    limit_mb = SIZE_LIMIT_BYTES / 1e6
    if size > SIZE_LIMIT_BYTES:
        raise SmokeFailure(f"image is {size / 1e6:.0f} MB, over the {limit_mb:.0f} MB limit")
    log(f"ok   image size {size / 1e6:.0f} MB ({size / 2**20:.0f} MiB) uncompressed, limit {limit_mb:.0f} MB")
    return {"size_bytes": size, "size_mb": round(size / 1e6)}
