"""What each Airflow component needs, measured on a local stack of its own: the figures behind the
task sizes in infrastructure/airflow_ecs/settings.py (docs/decisions/0062-right-sized-tasks.md).

    .venv/bin/python scripts/measure_component_sizes.py [--idle-seconds 300] [--mapped-runs 3]

Brings up a throwaway stack (free ports, its own LOCAL_STACK_HOME under /tmp; never `.local/` or
the default ports, so it runs beside `make up`), then reports per component, as a Markdown table:
- start: CPU-seconds from launch to healthy (what a task of N vCPU needs N times less of in wall
  time) and memory (PSS) once healthy;
- idle: mean and highest PSS, and CPU as a share of one core, over --idle-seconds;
- load: --mapped-runs runs of --mapped-count mapped tasks: highest PSS, CPU-seconds, and the
  busiest 5 s window as a share of one core.
PSS counts shared pages once per sharer, so the parts of a process group add up (forked helpers,
task processes). The stack is stopped and its folder deleted at the end.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from deploy_airflow_on_ecs_fargate import contract
from local_stack import postgres
from local_stack.airflow_api import AirflowApi
from local_stack.environment import api_url
from local_stack.paths import StackPaths
from local_stack.processes import group_members, running_pid

ROOT = Path(__file__).resolve().parent.parent
PARTS = (*contract.LONG_RUNNING_NAMES, "postgres", "sqs")
MIB = 2**20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def members(paths: StackPaths, part: str) -> list[psutil.Process]:
    if part == "postgres":
        pid = postgres.server_pid(paths.pgdata)
        try:
            return [psutil.Process(pid), *psutil.Process(pid).children()] if pid else []
        except psutil.Error:
            return []
    pid = running_pid(paths.pid_file(part))
    return group_members(pid) if pid else []


def _sum(processes: list[psutil.Process], value: Callable[[psutil.Process], float]) -> float:
    total = 0.0
    for process in processes:
        try:
            total += value(process)
        except psutil.Error:
            continue
    return total


def memory_mib(paths: StackPaths) -> dict[str, tuple[float, float]]:
    """Per part: (PSS, alone). PSS splits pages shared with other parts; `alone` estimates the part
    in a task of its own (every private page, plus the largest member's shared pages once), the
    figure a separate Fargate task needs."""
    found = {}
    for part in PARTS:
        pss, private, shared = 0.0, 0.0, 0.0
        for process in members(paths, part):
            try:
                info = process.memory_full_info()
            except psutil.Error:
                continue
            pss += info.pss
            private += info.uss
            shared = max(shared, info.rss - info.uss)
        found[part] = (pss / MIB, (private + shared) / MIB)
    return found


def cpu_seconds(paths: StackPaths) -> dict[str, float]:
    def used(process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system + times.children_user + times.children_system

    return {part: _sum(members(paths, part), used) for part in PARTS}


class Sampler(threading.Thread):
    """PSS every second and CPU every 5 s, per part, until stopped."""

    def __init__(self, paths: StackPaths) -> None:
        super().__init__(daemon=True)
        self.paths = paths
        self.stop = threading.Event()
        self.pss: dict[str, list[float]] = {part: [] for part in PARTS}
        self.alone: dict[str, list[float]] = {part: [] for part in PARTS}
        self.busiest: dict[str, float] = dict.fromkeys(PARTS, 0.0)

    def run(self) -> None:
        last_cpu, last_time = cpu_seconds(self.paths), time.monotonic()
        while not self.stop.wait(1.0):
            for part, (pss, alone) in memory_mib(self.paths).items():
                self.pss[part].append(pss)
                self.alone[part].append(alone)
            if time.monotonic() - last_time >= 5:
                now_cpu, now = cpu_seconds(self.paths), time.monotonic()
                for part in PARTS:
                    share = (now_cpu[part] - last_cpu[part]) / (now - last_time)
                    self.busiest[part] = max(self.busiest[part], share)
                last_cpu, last_time = now_cpu, now


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_gib:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load average before: {os.getloadavg()[0]:.2f}"
    )


def local_stack(command: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local_stack", command],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def environment_for(home: Path) -> dict[str, str]:
    own = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOCAL_STACK", "PYTEST"))}
    ports = {port.variable: str(free_port()) for port in contract.PORTS}
    return {
        **own,
        **ports,
        "LOCAL_STACK_POSTGRES_PORT": str(free_port()),
        "LOCAL_STACK_SQS_PORT": str(free_port()),
        "LOCAL_STACK_HOME": str(home / "state"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
    }


def run_mapped(api: AirflowApi, count: int) -> float:
    started = time.monotonic()
    run_id = api.trigger("example_dynamic_task_mapping", {"count": count})
    state = api.wait_for_run("example_dynamic_task_mapping", run_id, timeout=600, poll=0.25)
    if state != "success":
        raise SystemExit(f"measure: the mapped run {run_id} ended {state}")
    return time.monotonic() - started


def measure(args: argparse.Namespace, environment: dict[str, str]) -> None:
    paths = StackPaths(Path(environment["LOCAL_STACK_HOME"]))
    where = machine()
    started = time.monotonic()
    up = local_stack("up", environment)
    if up.returncode != 0:
        raise SystemExit(f"measure: the local stack did not come up:\n{up.stdout}\n{up.stderr}")
    up_seconds = time.monotonic() - started
    start_cpu, start_memory = cpu_seconds(paths), memory_mib(paths)

    time.sleep(args.settle_seconds)
    idle = Sampler(paths)
    cpu_before, wall_before = cpu_seconds(paths), time.monotonic()
    idle.start()
    time.sleep(args.idle_seconds)
    idle.stop.set()
    idle.join()
    idle_wall = time.monotonic() - wall_before
    idle_cpu = {part: (used - cpu_before[part]) / idle_wall for part, used in cpu_seconds(paths).items()}

    stack_environment = json.loads(paths.environment_file.read_text())
    api = AirflowApi.login(
        api_url(stack_environment),
        stack_environment["AIRFLOW_ADMIN_USERNAME"],
        stack_environment["AIRFLOW_ADMIN_PASSWORD"],
    )
    api.wait_for_dag("example_dynamic_task_mapping")
    run_mapped(api, 2)  # warm-up: the first task a fresh worker runs pays for imports
    load = Sampler(paths)
    cpu_before = cpu_seconds(paths)
    load.start()
    durations = [run_mapped(api, args.mapped_count) for _ in range(args.mapped_runs)]
    load.stop.set()
    load.join()
    load_cpu = {part: used - cpu_before[part] for part, used in cpu_seconds(paths).items()}

    print(f"Measured {datetime.date.today()} on {where}; `make up` equivalent took {up_seconds:.1f} s.\n")
    print(
        "| part | start: CPU-s to healthy | start: PSS MiB | idle: PSS MiB mean / max | idle: alone MiB max "
        f"| idle: CPU % of a core ({args.idle_seconds:.0f} s) | load: PSS MiB max | load: alone MiB max "
        "| load: CPU-s | load: busiest 5 s, % of a core |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for part in PARTS:
        samples = idle.pss[part] or [0.0]
        print(
            f"| {part} | {start_cpu[part]:.1f} | {start_memory[part][0]:.0f} | "
            f"{sum(samples) / len(samples):.0f} / {max(samples):.0f} | {max(idle.alone[part] or [0.0]):.0f} | "
            f"{100 * idle_cpu[part]:.1f} | {max(load.pss[part] or [0.0]):.0f} | {max(load.alone[part] or [0.0]):.0f} | "
            f"{load_cpu[part]:.1f} | {100 * load.busiest[part]:.0f} |"
        )
    print(
        f"\nload: {args.mapped_runs} runs of {args.mapped_count} mapped tasks (+2), "
        f"{', '.join(f'{d:.1f} s' for d in durations)}; "
        f"idle total {100 * sum(idle_cpu.values()):.1f} % of one core"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=300)
    parser.add_argument("--settle-seconds", type=float, default=60, help="wait after healthy before idle sampling")
    parser.add_argument("--mapped-runs", type=int, default=3)
    parser.add_argument("--mapped-count", type=int, default=50)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="measure-sizes-"))
    (home / "dags").mkdir()
    for source in (ROOT / "dags").glob("*.py"):
        shutil.copy(source, home / "dags")
    environment = environment_for(home)
    try:
        measure(args, environment)
    finally:
        local_stack("down", environment)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
