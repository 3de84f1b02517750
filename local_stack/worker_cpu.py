"""A Celery worker's CPU by role, for the benchmark: where a task's worker CPU goes.

Airflow's Celery worker runs each task in three processes: the worker's main process takes the
message, a pool process runs Airflow's task supervisor for it, and the supervisor forks the task
process. The kernel's share of each shows what forking a large Python process costs.
"""

from __future__ import annotations

from pathlib import Path

import psutil

from local_stack.processes import running_pid

WORKER_ROLES = ("Celery main process", "task supervisors", "task processes")


def worker_cpu_by_role(pid_file: Path) -> dict[str, tuple[float, float]]:
    """User and kernel CPU-seconds so far of a Celery worker by role (WORKER_ROLES): its main
    process (``pid_file``'s), the pool processes it forked (each runs Airflow's task supervisor for
    its task), and the task processes those forked and reaped. Airflow's log server, also a child of
    the main process, is left out. Empty when the worker is not running."""
    pid = running_pid(pid_file)
    if pid is None:
        return {}
    try:
        main = psutil.Process(pid)
        main_times, children = main.cpu_times(), main.children()
    except psutil.Error:
        return {}
    supervisors, tasks = [0.0, 0.0], [0.0, 0.0]
    for child in children:
        try:
            if "serve-logs" in " ".join(child.cmdline()):
                continue
            times = child.cpu_times()
        except psutil.Error:
            continue
        supervisors[0] += times.user
        supervisors[1] += times.system
        tasks[0] += times.children_user
        tasks[1] += times.children_system
    main_role, supervisor_role, task_role = WORKER_ROLES
    return {
        main_role: (main_times.user, main_times.system),
        supervisor_role: (supervisors[0], supervisors[1]),
        task_role: (tasks[0], tasks[1]),
    }
