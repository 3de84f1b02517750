"""Build the production image with podman and smoke-test it, with no registry and no Docker engine.

    python3 build/podman_image.py build    # build build/prod/Containerfile  (make image)
    python3 build/podman_image.py smoke    # build, then check the image     (make image-smoke)
    python3 build/podman_image.py stack    # smoke, then docker-compose.yml's services in a pod
                                           #                                 (make compose-smoke)

What it does (docs/decisions/0021-image-smoke-with-podman.md):
- installs podman, buildah, debootstrap and runc from Debian if they are missing (root only);
- keeps podman's storage and configuration under .cache/containers/ (gitignored);
- uses the Containerfile's upstream base if it is present or can be pulled, otherwise builds a
  stand-in with debootstrap (Debian bookworm with its Python 3.11, trimmed like a -slim image);
- builds with the host's CA bundle mounted for the dependency install only (TLS-intercepting
  proxies), so no CA lands in a layer;
- smoke: runs the health command and `airflow version` in the image, checks the user, PID 1's
  signal forwarding, the installed versions against the lock, that no build-time CA or setting
  was left behind, and the size limit; prints one line per check and writes a JSON summary.

Standard library only: it runs before (and without) the project's virtual environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTAINERFILE = ROOT / "build" / "prod" / "Containerfile"
DEV_CONTAINERFILE = ROOT / "build" / "dev" / "Containerfile"
REQUIREMENTS = ROOT / "build" / "requirements" / "requirements.txt"
STATE = ROOT / ".cache" / "containers"
SUMMARY = STATE / "image-smoke.json"

DEFAULT_IMAGE = "localhost/deploy-airflow-on-ecs-fargate:dev"
DEV_IMAGE = "localhost/deploy-airflow-on-ecs-fargate-dev:local"
STANDIN_BASE = "localhost/python-standin:3.11-slim-bookworm"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")  # where Debian keeps locally added CAs
BUILD_CA_PATH = "/run/host-ca.crt"

SIZE_LIMIT_BYTES = 800 * 1000 * 1000  # issue 4: at most 800 MB uncompressed
HEALTH_DEADLINE_SECONDS = 5.0  # runtime contract: the health command answers within 5 s
TOOLS = {"podman": "podman", "buildah": "buildah", "debootstrap": "debootstrap", "runc": "runc"}
# Installed by pip into every venv, not part of the lock.
PIP_OWN_PACKAGES = {"pip", "setuptools", "wheel"}

STORAGE_CONF = """\
# Written by build/podman_image.py: podman's images live in the project, not in /var/lib.
[storage]
driver = "overlay"
runroot = "{state}/run"
graphroot = "{state}/storage"
"""
# crun fails on this kind of machine (hybrid cgroups); ulimits above the VM's hard limit fail.
CONTAINERS_CONF = """\
# Written by build/podman_image.py.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
"""
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
STANDIN_TRIM = [
    "var/cache/apt/archives",
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/log",
]


class SmokeFailure(Exception):
    """A check failed; the message is the one line to print."""


def log(message: str) -> None:
    print(message, flush=True)


def run(cmd: list[str], *, check: bool = True, timeout: float | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; on failure raise with its last lines of stderr."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise SmokeFailure(f"{' '.join(cmd[:4])} ... exited {result.returncode}:\n{tail}")
    return result


def ensure_tools() -> None:
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SmokeFailure(
            f"missing {', '.join(missing)}: install them (apt-get install -y {' '.join(missing)}) or run as root"
        )
    log(f"installing {' '.join(missing)} from Debian")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if run(["apt-get", "install", "-y", "--no-install-recommends", *missing], check=False, env=env).returncode != 0:
        run(["apt-get", "update"], env=env)
        run(["apt-get", "install", "-y", "--no-install-recommends", *missing], env=env)


def configure_podman() -> None:
    """Point podman at project-local storage and configuration (environment of this process)."""
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


def upstream_base() -> str:
    """The base image the Containerfile names (its PYTHON_BASE default): one place decides it."""
    match = re.search(r"^ARG PYTHON_BASE=(\S+)$", CONTAINERFILE.read_text(), re.MULTILINE)
    if not match:
        raise SmokeFailure(f"{CONTAINERFILE.relative_to(ROOT)} has no 'ARG PYTHON_BASE=<image>' line")
    return match.group(1)


def image_exists(name: str) -> bool:
    return run(["podman", "image", "exists", name], check=False).returncode == 0


def build_standin() -> None:
    """A -slim-like Debian bookworm with Python 3.11, made with debootstrap (no registry needed)."""
    rootfs = STATE / "standin-rootfs"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    started = time.monotonic()
    run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            "bookworm",
            str(rootfs),
            DEBIAN_MIRROR,
        ]
    )
    for relative in STANDIN_TRIM:
        path = rootfs / relative
        if path.is_dir():
            shutil.rmtree(path)
            path.mkdir()
        elif path.exists():
            path.unlink()
    (rootfs / "etc" / "apt" / "apt.conf.d" / "docker-clean").write_text(SLIM_APT_CONF)
    (rootfs / "etc" / "dpkg" / "dpkg.cfg.d" / "docker").write_text(SLIM_DPKG_CONF)
    archive = STATE / "standin-rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    run(["podman", "import", "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["python3"]', str(archive), STANDIN_BASE])
    archive.unlink()
    shutil.rmtree(rootfs)
    log(f"ok   base stand-in {STANDIN_BASE} built in {time.monotonic() - started:.0f} s (debootstrap)")


def choose_base(mode: str, pull_timeout: float) -> str:
    upstream = upstream_base()
    if mode in ("auto", "upstream"):
        if image_exists(upstream):
            return upstream
        try:
            pulled = run(["podman", "pull", "--quiet", upstream], check=False, timeout=pull_timeout)
            if pulled.returncode == 0:
                return upstream
            reason = (pulled.stderr.strip().splitlines() or ["no output"])[-1]
        except subprocess.TimeoutExpired:
            reason = f"no answer within {pull_timeout:.0f} s"
        if mode == "upstream":
            raise SmokeFailure(f"cannot pull {upstream}: {reason}")
        log(f"note {upstream} cannot be pulled ({reason[:120]}); using a local stand-in")
    if not image_exists(STANDIN_BASE):
        build_standin()
    return STANDIN_BASE


def build(image: str, base: str, containerfile: Path, *, no_cache: bool, platform: str | None) -> float:
    cmd = [
        "podman",
        "build",
        "--format",
        "docker",
        "--network",
        "host",
        "--pull=never",
        "--build-arg",
        f"PYTHON_BASE={base}",
        "--file",
        str(containerfile),
        "--tag",
        image,
    ]
    if HOST_CA_BUNDLE.exists():
        cmd += ["--volume", f"{HOST_CA_BUNDLE}:{BUILD_CA_PATH}:ro", "--build-arg", f"PIP_CERT={BUILD_CA_PATH}"]
    if no_cache:
        cmd.append("--no-cache")
    if platform:
        cmd += ["--platform", platform]
    cmd.append(str(ROOT))
    started = time.monotonic()
    run(cmd, timeout=3600)
    elapsed = time.monotonic() - started
    log(
        f"ok   built {image} from {containerfile.relative_to(ROOT)} on {base} in {elapsed:.0f} s"
        f"{' (no cache)' if no_cache else ''}"
    )
    return elapsed


def inspect(image: str) -> dict:
    return json.loads(run(["podman", "image", "inspect", image]).stdout)[0]


def podman_run(image: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return run(
        ["podman", "run", "--rm", "--pull=never", "--network", "none", image, *args], check=False, timeout=timeout
    )


def locked_versions() -> dict[str, set[str]]:
    """name -> locked versions (two when the version depends on a marker, e.g. the Python version)."""
    versions: dict[str, set[str]] = {}
    for name, version in re.findall(
        r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", REQUIREMENTS.read_text(), re.MULTILINE
    ):
        versions.setdefault(normalize(name), set()).add(version)
    return versions


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def local_ca_markers() -> list[bytes]:
    """A distinctive slice of each CA the build host added locally (e.g. a TLS-intercepting proxy's)."""
    markers = []
    for path in sorted(LOCAL_CA_DIR.rglob("*.crt")) if LOCAL_CA_DIR.is_dir() else []:
        for body in re.findall(r"-----BEGIN CERTIFICATE-----\s*(.*?)-----END", path.read_text(), re.DOTALL):
            lines = body.split()
            if len(lines) > 4:
                markers.append("".join(lines[2:4]).encode())  # past the common header bytes
    return markers


def scan_layers(image: str, markers: list[bytes]) -> list[str]:
    """Every file in every layer of the image that contains one of the markers."""
    if not markers:
        return []
    archive = STATE / "image-scan.tar"
    run(["podman", "image", "save", "--format", "docker-archive", "--output", str(archive), image], timeout=600)
    hits = []
    try:
        with tarfile.open(archive) as outer:
            for layer in outer:
                if not layer.isfile() or not layer.name.endswith(".tar"):
                    continue
                with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                    for member in inner:
                        stream = inner.extractfile(member) if member.isfile() else None
                        if stream is not None:
                            content = stream.read()
                            flat = content.replace(b"\n", b"")
                            if any(marker in flat for marker in markers):
                                hits.append(member.name)
    finally:
        archive.unlink(missing_ok=True)
    return hits


def smoke(image: str) -> dict:
    """Run every check; return measurements. Raises SmokeFailure on the first failed check."""
    results: dict = {}
    meta = inspect(image)
    config = meta.get("Config", {})

    # Health command: nothing listens in the container, so it must say so: exit 1, one line, fast.
    started = time.monotonic()
    health = podman_run(image, "python", "-m", "deploy_airflow_on_ecs_fargate.health", "api-server", timeout=30)
    elapsed = time.monotonic() - started
    lines = health.stdout.strip().splitlines()
    if health.returncode != 1 or len(lines) != 1 or elapsed > HEALTH_DEADLINE_SECONDS:
        raise SmokeFailure(
            f"health api-server: expected exit 1 with one line within {HEALTH_DEADLINE_SECONDS:.0f} s,"
            f" got exit {health.returncode}, {len(lines)} lines, {elapsed:.1f} s:"
            f" {health.stdout.strip()[:300]} {health.stderr.strip()[-300:]}"
        )
    log(f"ok   health api-server -> exit 1 in {elapsed:.1f} s (container start included): {lines[0]}")
    results["health_seconds"] = round(elapsed, 2)

    # airflow version: the locked version, and the time a cold CLI start takes.
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
    results["airflow_version"] = reported
    results["airflow_version_seconds"] = round(elapsed, 2)

    # Bytecode is in the image: the code is root-owned and the image runs as another user, so a
    # module without its .pyc would be compiled again by every process and every task (decision 0005).
    probe = (
        "import json, os, sys\n"
        "from deploy_airflow_on_ecs_fargate import worker_preload\n"
        "worker_preload.preload()\n"
        "cached = [m for m in list(sys.modules.values()) if getattr(m, '__cached__', None)]\n"
        "missing = sorted(m.__name__ for m in cached if not os.path.exists(m.__cached__))\n"
        "print(json.dumps({'modules': len(cached), 'missing': missing}))\n"
    )
    bytecode = podman_run(image, "python", "-c", probe)
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

    # Exactly the lock: every installed distribution is a locked one at the locked version.
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

    # Non-root, tini as PID 1, the entrypoint as default command, the health check in the metadata.
    uid = podman_run(image, "id", "-u").stdout.strip()
    if uid in ("", "0"):
        raise SmokeFailure(f"the image runs as uid {uid or '?'}; it must not run as root")
    pid1 = podman_run(image, "cat", "/proc/1/cmdline").stdout.replace("\0", " ").strip()
    if not pid1.startswith("/usr/bin/tini -- "):
        raise SmokeFailure(f"PID 1 is '{pid1}', expected tini")
    cmd = config.get("Cmd") or []
    if cmd != ["python", "-m", "deploy_airflow_on_ecs_fargate", "api-server"]:
        raise SmokeFailure(f"default command is {cmd}, expected the entrypoint")
    health_test = (meta.get("Healthcheck") or config.get("Healthcheck") or {}).get("Test") or []
    if "deploy_airflow_on_ecs_fargate.health" not in health_test:
        raise SmokeFailure(f"no HEALTHCHECK with the health command in the image metadata: {health_test}")
    log(f"ok   runs as uid {uid}; PID 1 is tini; default command and HEALTHCHECK use the runtime contract")

    # SIGTERM reaches the component through tini (Celery's warm shutdown depends on it).
    name = f"image-smoke-sigterm-{os.getpid()}"
    handler = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(42))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    run(
        [
            "podman",
            "run",
            "--detach",
            "--name",
            name,
            "--pull=never",
            "--network",
            "none",
            image,
            "python",
            "-c",
            handler,
        ]
    )
    try:
        deadline = time.monotonic() + 30
        while "ready" not in run(["podman", "logs", name], check=False).stdout:
            if time.monotonic() > deadline:
                raise SmokeFailure("the SIGTERM probe did not start within 30 s")
            time.sleep(0.2)
        started = time.monotonic()
        run(["podman", "stop", "--time", "20", name])
        stopped_in = time.monotonic() - started
        exit_code = run(["podman", "inspect", "--format", "{{.State.ExitCode}}", name]).stdout.strip()
    finally:
        run(["podman", "rm", "--force", name], check=False)
    if exit_code != "42":
        raise SmokeFailure(f"SIGTERM did not reach the process behind PID 1 (exit {exit_code}, expected 42)")
    log(f"ok   SIGTERM forwarded to the component: its handler ran, stopped in {stopped_in:.1f} s")

    # Nothing from the build's TLS set-up is left: no setting, and no layer holds a locally added CA.
    env = config.get("Env") or []
    leaked_env = [item for item in env if item.split("=", 1)[0] in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")]
    if leaked_env:
        raise SmokeFailure(f"build-time setting left in the image environment: {leaked_env}")
    local_cas = local_ca_markers()
    hits = scan_layers(image, local_cas)
    if hits:
        raise SmokeFailure(f"a build host's CA is in the image layers: {', '.join(hits[:5])}")
    log(f"ok   no build-time setting; none of the host's {len(local_cas)} locally added CA(s) in any layer")

    size = int(meta["Size"])
    results["size_bytes"] = size
    results["size_mb"] = round(size / 1e6)
    if size > SIZE_LIMIT_BYTES:
        raise SmokeFailure(f"image is {size / 1e6:.0f} MB, over the {SIZE_LIMIT_BYTES / 1e6:.0f} MB limit")
    log(
        f"ok   image size {size / 1e6:.0f} MB ({size / 2**20:.0f} MiB) uncompressed, limit {SIZE_LIMIT_BYTES / 1e6:.0f} MB"
    )
    return results


# --- stack: docker-compose.yml's services, run by podman in one pod ---------------------------
# Compose itself cannot run here (no Docker engine; postgres and moto images cannot be pulled),
# so this runs the same services, commands, environment, mounts and health checks in a pod:
# PostgreSQL from Debian in a helper image, moto from the project's venv, the rest in the dev image.
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "worker")
POD = "image-smoke-stack"
POSTGRES_IMAGE = "localhost/image-smoke-postgres:15"
POSTGRES_CONTAINERFILE = """\
ARG BASE
FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 && rm -rf /var/lib/apt/lists/*
USER postgres
RUN /usr/lib/postgresql/15/bin/initdb --pgdata=/tmp/pgdata --auth=trust --username=airflow >/dev/null
ENV PATH=/usr/lib/postgresql/15/bin:${PATH}
CMD ["postgres", "-D", "/tmp/pgdata", "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=/tmp"]
"""
TRIGGER_SCRIPT = """\
import json, sys, time, urllib.error, urllib.request
base, user, password, dag = sys.argv[1:5]
def call(method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = None if body is None else json.dumps(body).encode()
    for attempt in range(3):  # a busy machine can stall a first request (password hash, imports)
        request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except (TimeoutError, urllib.error.URLError) as error:
            if isinstance(error, urllib.error.HTTPError) or attempt == 2:
                sys.exit(f"{method} {path}: {error}")
token = call("POST", "/auth/token", {"username": user, "password": password})["access_token"]
deadline = time.time() + 120
while dag not in [d["dag_id"] for d in call("GET", "/api/v2/dags", token=token)["dags"]]:
    if time.time() > deadline:
        sys.exit(f"{dag} was not parsed within 120 s")
    time.sleep(2)
call("PATCH", f"/api/v2/dags/{dag}", {"is_paused": False}, token)
run_id = call("POST", f"/api/v2/dags/{dag}/dagRuns", {"logical_date": None}, token)["dag_run_id"]
started = time.time()
state = "queued"
while state not in ("success", "failed") and time.time() - started < 180:
    time.sleep(1)
    state = call("GET", f"/api/v2/dags/{dag}/dagRuns/{run_id}", token=token)["state"]
print(f"{dag} {state} in {time.time() - started:.1f} s")
sys.exit(0 if state == "success" else 1)
"""
STACK_DAG = "example_one_task"


def compose_services() -> dict:
    """docker-compose.yml as Compose resolves it (anchors merged), from the venv's compose binary."""
    binary = ROOT / ".venv" / "bin" / "docker-compose"
    if not binary.exists():
        raise SmokeFailure(f"{binary.relative_to(ROOT)} is missing: run `make install` first")
    return json.loads(run([str(binary), "--file", str(COMPOSE_FILE), "config", "--format", "json"]).stdout)["services"]


def start_service(
    name: str, service: dict, image: str, *, detach: bool, command: list[str] | None = None, extra: Sequence[str] = ()
) -> subprocess.CompletedProcess:
    env_file = STATE / f"stack-{name}.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in (service.get("environment") or {}).items()))
    args = ["podman", "run", "--pod", POD, "--name", f"{POD}-{name}", "--pull=never", "--env-file", str(env_file)]
    for volume in service.get("volumes") or []:
        if volume["type"] == "bind":
            args += ["--volume", f"{volume['source']}:{volume['target']}{':ro' if volume.get('read_only') else ''}"]
        else:
            args += ["--volume", f"{POD}-{volume['source']}:{volume['target']}"]
    if service.get("entrypoint"):
        args += ["--entrypoint", json.dumps(service["entrypoint"])]
    args += [
        *extra,
        "--detach" if detach else "--rm",
        image,
        *(command if command is not None else service.get("command") or []),
    ]
    return run(args, check=False, timeout=600)


def wait_healthy(name: str, service: dict, timeout: float) -> float:
    """Run the service's compose healthcheck inside its container until it passes."""
    test = service["healthcheck"]["test"]
    command = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
    started = time.monotonic()
    while True:
        result = run(["podman", "exec", f"{POD}-{name}", *command], check=False, timeout=60)
        if result.returncode == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            logs = run(["podman", "logs", "--tail", "15", f"{POD}-{name}"], check=False)
            raise SmokeFailure(
                f"{name} not healthy within {timeout:.0f} s: {result.stdout.strip()[-200:]}\n"
                f"{(logs.stdout + logs.stderr).strip()[-1500:]}"
            )
        time.sleep(2)


def stack(image: str, base: str) -> dict:
    services = compose_services()
    results: dict = {}
    STATE.mkdir(parents=True, exist_ok=True)
    containerfile = STATE / "postgres.Containerfile"
    containerfile.write_text(POSTGRES_CONTAINERFILE)
    if not image_exists(POSTGRES_IMAGE):
        run(
            [
                "podman",
                "build",
                "--network",
                "host",
                "--pull=never",
                "--build-arg",
                f"BASE={base}",
                "--file",
                str(containerfile),
                "--tag",
                POSTGRES_IMAGE,
                str(STATE),
            ],
            timeout=900,
        )
    teardown_stack()
    # Every service reaches the others by its compose name, as on the compose network.
    hosts = [arg for name in services for arg in ("--add-host", f"{name}:127.0.0.1")]
    run(["podman", "pod", "create", "--name", POD, *hosts])
    started = time.monotonic()
    try:
        postgres = services["postgres"]
        start_service("postgres", {}, POSTGRES_IMAGE, detach=True, command=[])
        wait_healthy(
            "postgres", {"healthcheck": {"test": ["CMD", "pg_isready", "--host=127.0.0.1", "--username=airflow"]}}, 60
        )
        run(
            [
                "podman",
                "exec",
                f"{POD}-postgres",
                "createdb",
                "--host=127.0.0.1",
                "--username=airflow",
                postgres["environment"]["POSTGRES_DB"],
            ]
        )
        log(f"ok   stack: postgres ready (Debian PostgreSQL 15 standing in for {postgres['image']})")

        site_packages = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
        start_service(
            "sqs",
            services["sqs"],
            base,
            detach=True,
            command=["python3", "-m", "moto.server", "--host", "127.0.0.1", "--port", "5000"],
            extra=[
                "--volume",
                f"{site_packages}:/opt/host-site-packages:ro",
                "--env",
                "PYTHONPATH=/opt/host-site-packages",
            ],
        )
        wait_healthy("sqs", services["sqs"], 60)
        queue = start_service("sqs-queue", services["sqs-queue"], image, detach=False)
        if queue.returncode != 0:
            raise SmokeFailure(f"sqs-queue failed: {(queue.stdout + queue.stderr).strip()[-800:]}")
        log(f"ok   stack: moto from the venv standing in for {services['sqs']['image']}; {queue.stdout.strip()}")

        init = start_service("airflow-init", services["airflow-init"], image, detach=False)
        if init.returncode != 0:
            raise SmokeFailure(f"airflow-init failed: {(init.stdout + init.stderr).strip()[-1500:]}")
        log(f"ok   stack: airflow-init ({' '.join(services['airflow-init']['command'][2:])}) succeeded")

        components_started = time.monotonic()
        for component in COMPONENTS:
            start_service(component, services[component], image, detach=True)
        for component in COMPONENTS:
            wait_healthy(component, services[component], 180)
            log(
                f"ok   stack: {component} healthy by its compose healthcheck,"
                f" {time.monotonic() - components_started:.0f} s after the five started"
            )

        trigger = STATE / "trigger_dag.py"
        trigger.write_text(TRIGGER_SCRIPT)
        environment = services["api-server"]["environment"]
        run_dag = run(
            [
                "podman",
                "run",
                "--rm",
                "--pod",
                POD,
                "--pull=never",
                "--volume",
                f"{trigger}:/opt/trigger.py:ro",
                image,
                "python",
                "/opt/trigger.py",
                "http://127.0.0.1:8080",
                environment["AIRFLOW_ADMIN_USERNAME"],
                environment["AIRFLOW_ADMIN_PASSWORD"],
                STACK_DAG,
            ],
            check=False,
            timeout=400,
        )
        if run_dag.returncode != 0:
            raise SmokeFailure(f"DAG run through the REST API: {(run_dag.stdout + run_dag.stderr).strip()[-800:]}")
        log(f"ok   stack: {run_dag.stdout.strip()} (REST API -> scheduler -> SQS -> worker)")

        stop_started = time.monotonic()
        run(["podman", "stop", "--time", "60", f"{POD}-worker"], timeout=120)
        stop_seconds = time.monotonic() - stop_started
        worker_log = run(["podman", "logs", f"{POD}-worker"], check=False)
        exit_code = run(["podman", "inspect", "--format", "{{.State.ExitCode}}", f"{POD}-worker"]).stdout.strip()
        if "Warm shutdown" not in worker_log.stdout + worker_log.stderr or exit_code != "0":
            raise SmokeFailure(f"worker did not shut down warm on SIGTERM (exit {exit_code})")
        log(f"ok   stack: worker warm shutdown on SIGTERM in {stop_seconds:.1f} s, exit 0")
        results["stack_seconds"] = round(time.monotonic() - started)
    finally:
        teardown_stack()
    return results


def teardown_stack() -> None:
    run(["podman", "pod", "rm", "--force", "--ignore", POD], check=False, timeout=180)
    volumes = run(["podman", "volume", "ls", "--quiet", "--filter", f"name={POD}-"], check=False).stdout.split()
    if volumes:
        run(["podman", "volume", "rm", "--force", *volumes], check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "action",
        choices=["build", "smoke", "stack"],
        help="build the image; smoke: build and check it; stack: smoke, then run"
        " docker-compose.yml's services in a podman pod",
    )
    parser.add_argument("--image", default=os.environ.get("IMAGE", DEFAULT_IMAGE), help="tag of the built image")
    parser.add_argument(
        "--base",
        choices=["auto", "upstream", "standin"],
        default="auto",
        help="auto: the upstream base if present or pullable, else the debootstrap stand-in",
    )
    parser.add_argument("--pull-timeout", type=float, default=20.0, help="seconds to wait for a base image pull")
    parser.add_argument("--no-cache", action="store_true", help="rebuild every layer (to measure a full build)")
    parser.add_argument("--platform", help="e.g. linux/arm64 (needs an arm64 base and qemu-user-static)")
    parser.add_argument("--dev", action="store_true", help="also build build/dev/Containerfile")
    args = parser.parse_args(argv)

    total_started = time.monotonic()
    try:
        ensure_tools()
        configure_podman()
        base = choose_base(args.base, args.pull_timeout)
        build_seconds = build(args.image, base, CONTAINERFILE, no_cache=args.no_cache, platform=args.platform)
        summary = {"image": args.image, "base": base, "build_seconds": round(build_seconds), "no_cache": args.no_cache}
        if args.dev or args.action == "stack":
            summary["dev_build_seconds"] = round(
                build(DEV_IMAGE, base, DEV_CONTAINERFILE, no_cache=False, platform=args.platform)
            )
        if args.action in ("smoke", "stack"):
            summary.update(smoke(args.image))
        if args.action == "stack":
            summary.update(stack(DEV_IMAGE, base))
    except SmokeFailure as failure:
        log(f"FAIL {failure}")
        return 1
    except subprocess.TimeoutExpired as timeout:
        log(f"FAIL {' '.join(map(str, timeout.cmd[:4]))} ... did not finish within {timeout.timeout:.0f} s")
        return 1
    summary["total_seconds"] = round(time.monotonic() - total_started)
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
    log(f"done in {summary['total_seconds']} s; summary in {SUMMARY.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
