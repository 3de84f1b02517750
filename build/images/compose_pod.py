"""docker-compose.yml's services, run by podman in one pod.

Compose itself cannot run here (no Docker engine), so each service is started with podman as
Compose resolves it: its command, entrypoint, environment, mounts and health check. Every service
name resolves to the pod's localhost, as it would resolve on the compose network.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .commands import SmokeFailure, run
from .paths import COMPOSE_FILE, STATE, VENV, shown

POD = "image-smoke-stack"
Service = Mapping[str, Any]
# A one-shot service (init, queue creation) that has not finished by then is stuck.
ONE_SHOT_TIMEOUT_SECONDS = 600


def compose_services() -> dict[str, Service]:
    """docker-compose.yml as Compose resolves it (anchors merged), from the venv's compose binary."""
    binary = VENV / "bin" / "docker-compose"
    if not binary.exists():
        raise SmokeFailure(f"{shown(binary)} is missing: run `make install` first")
    resolved = run([str(binary), "--file", str(COMPOSE_FILE), "config", "--format", "json"]).stdout
    return json.loads(resolved)["services"]


def free_local_port() -> int:
    """A port nothing listens on at 127.0.0.1 (a running local stack may hold the usual ones)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def create_pod(service_names: Sequence[str], publish: Sequence[str] = ()) -> None:
    """A fresh pod; publish entries are podman's `ip:host_port:container_port`."""
    teardown()
    hosts = [arg for name in service_names for arg in ("--add-host", f"{name}:127.0.0.1")]
    ports = [arg for mapping in publish for arg in ("--publish", mapping)]
    run(["podman", "pod", "create", "--name", POD, *hosts, *ports])


def container_name(service_name: str) -> str:
    return f"{POD}-{service_name}"


def run_arguments(
    name: str,
    service: Service,
    image: str,
    env_file: str,
    *,
    detach: bool,
    command: Sequence[str] | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """`podman run` for one compose service in the pod; command and extra override or add to it."""
    args = ["podman", "run", "--pod", POD, "--name", container_name(name), "--pull=never", "--env-file", env_file]
    for volume in service.get("volumes") or []:
        if volume["type"] == "bind":
            args += ["--volume", f"{volume['source']}:{volume['target']}{':ro' if volume.get('read_only') else ''}"]
        else:
            # Named volumes belong to this pod's run and go with it (teardown).
            args += ["--volume", f"{POD}-{volume['source']}:{volume['target']}"]
    if service.get("entrypoint"):
        args += ["--entrypoint", json.dumps(service["entrypoint"])]
    args += [*extra, "--detach" if detach else "--rm", image]
    args += command if command is not None else service.get("command") or []
    return args


def env_file_content(service: Service) -> str:
    return "".join(f"{key}={value}\n" for key, value in (service.get("environment") or {}).items())


def start_service(
    name: str,
    service: Service,
    image: str,
    *,
    detach: bool,
    command: Sequence[str] | None = None,
    extra: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Start a service in the pod: detached for a long-running one, to completion for a one-shot."""
    env_file = STATE / f"stack-{name}.env"
    env_file.write_text(env_file_content(service))
    args = run_arguments(name, service, image, str(env_file), detach=detach, command=command, extra=extra)
    return run(args, check=False, timeout=ONE_SHOT_TIMEOUT_SECONDS)


def healthcheck_command(test: Sequence[str]) -> list[str]:
    """A compose healthcheck `test` as a command to exec: ["CMD", ...] or ["CMD-SHELL", "..."]."""
    kind, *rest = test
    if kind == "CMD":
        return list(rest)
    if kind == "CMD-SHELL":
        return ["sh", "-c", rest[0]]
    raise SmokeFailure(f"unsupported healthcheck test {list(test)}: expected CMD or CMD-SHELL")


def wait_healthy(name: str, service: Service, timeout: float) -> float:
    """Run the service's compose healthcheck inside its container until it passes; its seconds."""
    command = healthcheck_command(service["healthcheck"]["test"])
    started = time.monotonic()
    while True:
        result = run(["podman", "exec", container_name(name), *command], check=False, timeout=60)
        if result.returncode == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            logs = run(["podman", "logs", "--tail", "15", container_name(name)], check=False)
            raise SmokeFailure(
                f"{name} not healthy within {timeout:.0f} s: {result.stdout.strip()[-200:]}\n"
                f"{(logs.stdout + logs.stderr).strip()[-1500:]}"
            )
        time.sleep(2)


def teardown() -> None:
    """Remove the pod, its containers and its named volumes (nothing is kept between runs)."""
    run(["podman", "pod", "rm", "--force", "--ignore", POD], check=False, timeout=180)
    volumes = run(["podman", "volume", "ls", "--quiet", "--filter", f"name={POD}-"], check=False).stdout.split()
    if volumes:
        run(["podman", "volume", "rm", "--force", *volumes], check=False)
