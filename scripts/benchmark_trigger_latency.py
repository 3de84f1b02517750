"""Trigger-to-success latency on the running local stack (`make up` first; `make benchmark`).

Measures, through the REST API as a user would trigger them:
- a one-task DAG (example_one_task), RUNS times, median reported;
- a DAG of 50 mapped tasks plus its generator and summing task (example_dynamic_task_mapping).
Latency is the run's own end_date minus the moment just before the trigger call, so the client's
polling interval does not inflate it. One warm-up run of each DAG is not counted (the first task
a fresh worker runs pays for imports). Prints a Markdown table with the machine it ran on, and the
CPU-seconds each part of the stack spent during the measured runs (where the time goes).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from local_stack import postgres
from local_stack.airflow_api import AirflowApi
from local_stack.environment import api_url
from local_stack.paths import StackPaths
from local_stack.processes import group_members, running_pid
from local_stack.settings import LocalSettings
from local_stack.stack import BROKER, COMPONENTS


def timed_run(api: AirflowApi, dag_id: str, conf: dict | None = None) -> float:
    started = datetime.datetime.now(datetime.UTC)
    run_id = api.trigger(dag_id, conf)
    state = api.wait_for_run(dag_id, run_id, timeout=600, poll=0.25)
    if state != "success":
        raise SystemExit(f"benchmark: {dag_id} run {run_id} ended {state}: look at its task logs in the UI")
    ended = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["end_date"]
    return (datetime.datetime.fromisoformat(ended.replace("Z", "+00:00")) - started).total_seconds()


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    """CPU time of live processes plus that of their exited children (tasks, connections)."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def cpu_by_part(paths: StackPaths) -> dict[str, float]:
    """CPU-seconds used so far by each component's process group, the broker and PostgreSQL."""
    usage = {}
    for name in (*(c.name for c in COMPONENTS), BROKER):
        pid = running_pid(paths.pid_file(name))
        usage[name] = _cpu_seconds(group_members(pid)) if pid else 0.0
    pid = postgres.server_pid(paths.pgdata)
    try:
        postmaster = psutil.Process(pid) if pid else None
        usage["postgres"] = _cpu_seconds([postmaster, *postmaster.children()]) if postmaster else 0.0
    except psutil.Error:
        usage["postgres"] = 0.0
    return usage


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_gib:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load average before: {os.getloadavg()[0]:.2f}"
    )


def measure_idle(paths: StackPaths, seconds: float) -> int:
    if running_pid(paths.pid_file("scheduler")) is None:
        print("benchmark: the local stack is not running: run `make up` first", file=sys.stderr)
        return 1
    before = cpu_by_part(paths)
    time.sleep(seconds)
    used = {name: total - before.get(name, 0.0) for name, total in cpu_by_part(paths).items()}
    print(f"Idle CPU over {seconds:.0f} s, measured {time.strftime('%Y-%m-%d')} on {machine()}:")
    for name, spent in sorted(used.items(), key=lambda item: -item[1]):
        print(f"  {name:14s} {100 * spent / seconds:5.1f} % of one core")
    print(f"  {'all':14s} {100 * sum(used.values()) / seconds:5.1f} % of one core")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="one-task runs to measure (default 10)")
    parser.add_argument("--mapped-runs", type=int, default=3, help="50-task mapped runs to measure (default 3)")
    parser.add_argument("--mapped-count", type=int, default=50)
    parser.add_argument(
        "--idle",
        type=float,
        metavar="SECONDS",
        help="instead: measure the CPU the idle stack uses over SECONDS, trigger nothing",
    )
    args = parser.parse_args()
    paths = StackPaths(LocalSettings.from_environment().home)
    if args.idle:
        return measure_idle(paths, args.idle)
    # The running stack's own environment: its port and login, whatever `make up` was given.
    try:
        environment = json.loads(paths.environment_file.read_text())
    except FileNotFoundError:
        print("benchmark: the local stack is not running: run `make up` first", file=sys.stderr)
        return 1
    url = api_url(environment)
    where = machine()
    try:
        api = AirflowApi.login(url, environment["AIRFLOW_ADMIN_USERNAME"], environment["AIRFLOW_ADMIN_PASSWORD"])
    except OSError as error:
        print(f"benchmark: the local stack does not answer at {url} ({error}): run `make up` first", file=sys.stderr)
        return 1
    for dag_id in ("example_one_task", "example_dynamic_task_mapping"):
        api.wait_for_dag(dag_id)
        timed_run(api, dag_id, {"count": 2} if "mapping" in dag_id else None)  # warm-up, not counted

    cpu_before, wall_before = cpu_by_part(paths), time.monotonic()
    one_task = [timed_run(api, "example_one_task") for _ in range(args.runs)]
    mapped = [
        timed_run(api, "example_dynamic_task_mapping", {"count": args.mapped_count}) for _ in range(args.mapped_runs)
    ]
    wall = time.monotonic() - wall_before
    cpu = {name: used - cpu_before.get(name, 0.0) for name, used in cpu_by_part(paths).items()}

    print(f"Measured {time.strftime('%Y-%m-%d')} on {where}\n")
    print("| DAG | runs | median | min | max |")
    print("|---|---|---|---|---|")
    for name, values in (("one task", one_task), (f"{args.mapped_count} mapped tasks (+2)", mapped)):
        print(
            f"| {name} | {len(values)} | {statistics.median(values):.2f} s | {min(values):.2f} s "
            f"| {max(values):.2f} s |"
        )
    tasks = args.runs + args.mapped_runs * (args.mapped_count + 2)
    cores = os.cpu_count() or 1
    busy = sum(cpu.values()) / (wall * cores)
    print(
        f"\nCPU-seconds during the measured runs ({tasks} tasks, {wall:.1f} s wall, "
        f"{cores} cores, {100 * busy:.0f} % busy):"
    )
    for name, used in sorted(cpu.items(), key=lambda item: -item[1]):
        print(f"  {name:14s} {used:6.1f}  ({used / tasks:.3f} per task)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
