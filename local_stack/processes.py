"""Detached processes with pid files: started once, found again by later `make` calls, stopped
with their whole process group so nothing is left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil


def start_detached(command: list[str], *, log_file: Path, pid_file: Path, env: dict[str, str], cwd: Path) -> int:
    """Start ``command`` in its own session (its own process group), output appended to ``log_file``."""
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    # The start time tells a recycled pid apart (the command line changes when the entrypoint execs).
    pid_file.write_text(f"{process.pid} {psutil.Process(process.pid).create_time()}\n")
    return process.pid


def running_pid(pid_file: Path) -> int | None:
    """The pid recorded in ``pid_file`` if that very process is still alive."""
    try:
        pid_text, created = pid_file.read_text().split()
        process = psutil.Process(int(pid_text))
        alive = process.status() != psutil.STATUS_ZOMBIE
        same = abs(process.create_time() - float(created)) < 0.01
    except (FileNotFoundError, ValueError, psutil.Error):
        return None
    return process.pid if alive and same else None


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid:
                members.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def stop_group(pid_file: Path, *, timeout: float, on_wait=None) -> str:
    """SIGTERM the leader only (a Celery worker then finishes its running tasks), wait up to
    ``timeout``, then SIGKILL whatever is left of its process group. Returns what happened."""
    pid = running_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return "not running"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    next_notice = time.monotonic() + 10
    outcome = "stopped"
    while psutil.pid_exists(pid) and _not_zombie(pid):
        if time.monotonic() > deadline:
            outcome = f"killed after {timeout:.0f} s"
            break
        if on_wait and time.monotonic() > next_notice:
            on_wait()
            next_notice = time.monotonic() + 10
        time.sleep(0.1)
    leftovers = group_members(pid)
    for process in leftovers:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(leftovers, timeout=5)
    pid_file.unlink(missing_ok=True)
    return outcome


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
