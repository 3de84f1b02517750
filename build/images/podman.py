"""podman and the tools it builds with: installed from Debian when missing, configured to keep
its images and settings in the project (.cache/containers/), never in /var/lib or /etc."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from .commands import SmokeFailure, log, run
from .paths import STATE

# Each binary comes from the Debian package of the same name. catatonit is only a recommendation
# of Debian's podman, but a pod needs it: podman builds the pod's pause image around it.
TOOLS = ("podman", "buildah", "debootstrap", "runc", "catatonit")

STORAGE_CONF = """\
# Written by build/images/podman.py: podman's images live in the project, not in /var/lib.
[storage]
driver = "overlay"
runroot = "{state}/run"
graphroot = "{state}/storage"
"""
# crun fails on this kind of machine (hybrid cgroups); ulimits above the VM's hard limit fail.
CONTAINERS_CONF = """\
# Written by build/images/podman.py.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
"""


def ensure_tools() -> None:
    """Install the missing tools from Debian (root only); otherwise say which to install."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SmokeFailure(
            f"missing {', '.join(missing)}: install them (apt-get install -y {' '.join(missing)}) or run as root"
        )
    log(f"installing {' '.join(missing)} from Debian")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    # A fresh machine may have no package lists yet: update only when the install needs it.
    if run(install, check=False, env=env).returncode != 0:
        run(["apt-get", "update"], env=env)
        run(install, env=env)


def configure() -> None:
    """Point podman at project-local storage and configuration (this process's environment)."""
    STATE.mkdir(parents=True, exist_ok=True)
    storage_conf = STATE / "storage.conf"
    storage_conf.write_text(STORAGE_CONF.format(state=STATE))
    containers_conf = STATE / "containers.conf"
    containers_conf.write_text(CONTAINERS_CONF)
    auth = STATE / "auth.json"  # podman refuses to start when an auth file location lacks one
    if not auth.exists():
        auth.write_text("{}\n")
    os.environ["CONTAINERS_STORAGE_CONF"] = str(storage_conf)
    os.environ["CONTAINERS_CONF"] = str(containers_conf)
    os.environ["REGISTRY_AUTH_FILE"] = str(auth)


def image_exists(name: str) -> bool:
    return run(["podman", "image", "exists", name], check=False).returncode == 0


def inspect_image(image: str) -> dict[str, Any]:
    return json.loads(run(["podman", "image", "inspect", image]).stdout)[0]


def exit_code(container: str) -> str:
    return run(["podman", "inspect", "--format", "{{.State.ExitCode}}", container]).stdout.strip()


def manifest(name: str, images: list[str]) -> dict[str, object]:
    """A manifest list of `images` (one per architecture) under `name`, made afresh; its platforms."""
    run(["podman", "manifest", "rm", name], check=False)
    run(["podman", "manifest", "create", name])
    for image in images:
        run(["podman", "manifest", "add", name, f"containers-storage:{image}"])
    listed = json.loads(run(["podman", "manifest", "inspect", name]).stdout)
    platforms = sorted(f"{m['platform']['os']}/{m['platform']['architecture']}" for m in listed["manifests"])
    log(f"ok   manifest list {name}: {', '.join(platforms)}")
    return {"name": name, "platforms": platforms}
