"""The benchmark's split of a worker's CPU by role, read from a real process tree shaped like
Celery's: main process, a pool process that forks and reaps a task process, Airflow's log server."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import psutil
import pytest

from local_stack.worker_cpu import WORKER_ROLES, worker_cpu_by_role

BURN = textwrap.dedent(
    """
    import time
    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
    """
)

# The main process forks a pool process, which forks a task process burning 0.3 CPU-s, reaps it and
# burns 0.1 CPU-s itself; the log server (a child whose command line names serve-logs, as Airflow's
# does) burns 0.5. The pool process has the main process's command line, so that must not name it.
WORKER = BURN + textwrap.dedent(
    """
    import os, sys
    ready_read, ready_write = os.pipe()
    if os.fork() == 0:
        task = os.fork()
        if task == 0:
            burn(0.3)
            os._exit(0)
        os.waitpid(task, 0)
        burn(0.1)
        os.write(ready_write, b"p")
        time.sleep(120)
        os._exit(0)
    log_server = [sys.executable, "-c", sys.argv[1], "serve" + "-logs", str(ready_write)]
    import subprocess
    subprocess.Popen(log_server, pass_fds=(ready_write,))
    os.read(ready_read, 1), os.read(ready_read, 1)
    print("ready", flush=True)
    time.sleep(120)
    """
)

LOG_SERVER = BURN + textwrap.dedent(
    """
    import os, sys
    burn(0.5)
    os.write(int(sys.argv[2]), b"l")
    time.sleep(120)
    """
)


@pytest.fixture
def worker(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, LOG_SERVER], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        pid_file = tmp_path / "worker.pid"
        pid_file.write_text(f"{process.pid} {psutil.Process(process.pid).create_time()}")
        yield pid_file
    finally:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
        process.wait()


def test_task_processes_count_once_reaped_and_the_log_server_not_at_all(worker):
    used = worker_cpu_by_role(worker)
    total = {role: user + kernel for role, (user, kernel) in used.items()}
    main, supervisors, tasks = WORKER_ROLES
    assert set(used) == set(WORKER_ROLES)
    assert 0.28 <= total[tasks] < 0.45  # the reaped task process, nothing else
    assert 0.09 <= total[supervisors] < 0.3  # the pool process's own 0.1, not the log server's 0.5
    assert total[main] < 0.3


def test_no_running_worker_gives_no_figures(tmp_path):
    assert worker_cpu_by_role(tmp_path / "missing.pid") == {}
    (tmp_path / "stale.pid").write_text("999999999 1.0")
    assert worker_cpu_by_role(tmp_path / "stale.pid") == {}
