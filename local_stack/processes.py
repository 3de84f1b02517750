"""Detached processes with pid files: started once, found again by later `make` calls, stopped
with every process they started so nothing is left behind.

"Every process" is more than the process group: Airflow's task supervisor puts each task in a
process group of its own, and the BashOperator's shell in a session of its own. A process's tree
(its descendants, followed through parent ids) is what it started; the tree is recorded while the
process still lives, because once it dies its children are handed to another parent."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

# Started processes stay referenced: a collected Popen of a running child is polled (and reaped,
# exit code and all) by the subprocess module at the next Popen, behind a supervisor's back.
_STARTED: dict[int, subprocess.Popen] = {}


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
    _STARTED[process.pid] = process
    # The start time tells a recycled pid apart (the command line changes when the entrypoint execs).
    pid_file.write_text(f"{process.pid} {psutil.Process(process.pid).create_time()}\n")
    return process.pid


def forget(pid: int) -> None:
    """The process exited and was reaped: drop its Popen."""
    _STARTED.pop(pid, None)


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


def tree(pid: int) -> list[psutil.Process]:
    """The process and every descendant it has now (empty when it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


class Tree:
    """Every process seen in a part's tree since it started; what is still alive is killed at
    its end. Processes are kept as psutil objects, which tell a recycled pid apart."""

    def __init__(self) -> None:
        self.members: dict[int, psutil.Process] = {}

    def record(self, pid: int) -> None:
        for process in tree(pid):
            self.members.setdefault(process.pid, process)

    def alive(self) -> list[psutil.Process]:
        found = []
        for process in self.members.values():
            with contextlib.suppress(psutil.Error):
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process)
        return found

    def kill(self) -> int:
        """SIGKILL every recorded process still alive, and whatever they started; return how many."""
        victims = {p.pid: p for process in self.alive() for p in (process, *_children(process))}
        for process in victims.values():
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(list(victims.values()), timeout=5)
        self.members.clear()
        return len(victims)


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def kill_tree(pid: int) -> int:
    """SIGKILL a process and everything it started; return how many processes."""
    members = Tree()
    members.record(pid)
    return members.kill()


def stop_group(pid_file: Path, *, timeout: float, on_wait=None, on_tick=None) -> str:
    """SIGTERM the leader only (a Celery worker then finishes its running tasks), wait up to
    ``timeout``, then SIGKILL whatever is left of its process group and of every process it
    started meanwhile (tasks run in groups of their own). Returns what happened. ``on_tick`` runs
    every 0.1 s while waiting (the supervisor reaps its children there)."""
    pid = running_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return "not running"
    members = Tree()
    members.record(pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    next_notice = time.monotonic() + 10
    outcome = "stopped"
    while psutil.pid_exists(pid) and _not_zombie(pid):
        members.record(pid)
        if time.monotonic() > deadline:
            outcome = f"killed after {timeout:.0f} s"
            break
        if on_wait and time.monotonic() > next_notice:
            on_wait()
            next_notice = time.monotonic() + 10
        if on_tick:
            on_tick()
        time.sleep(0.1)
    for process in group_members(pid):
        members.members.setdefault(process.pid, process)
    members.kill()
    pid_file.unlink(missing_ok=True)
    return outcome


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
