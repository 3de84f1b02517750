"""Trigger-to-success latency on the running local stack (`make up` first; `make benchmark`).

Measures, through the REST API as a user would trigger them:
- a one-task DAG (example_one_task), RUNS times, median reported;
- a DAG of 50 mapped tasks plus its generator and summing task (example_dynamic_task_mapping).
Latency is the run's own end_date minus the moment just before the trigger call, so the client's
polling interval does not inflate it. One warm-up run of each DAG is not counted (the first task
a fresh worker runs pays for imports). Prints a Markdown table with the machine it ran on, and the
CPU-seconds each part of the stack spent during the measured runs (where the time goes).

`--baseline` (`make benchmark-baseline`) compares this project's stack with plain Airflow tuned by
hand (local_stack/baseline.py: the same packages, DAGs, executor and broker, none of the project's
runtime code, scheduler idle sleep 0.2 s and SQS polling interval 0.1 s, the same parallelism and
worker concurrency). It starts both itself, each with its own home (.local/benchmark/) and free
ports, so a running `make up` stack is left alone, and stops both at the end, on Ctrl-C or failure
too. Rounds alternate ours, baseline, ours, baseline... over the one-task runs (median of 10), the
50-task runs (median of 3) and the large runs (4 runs of 250 mapped tasks: throughput and machine
CPU per task: every process of the stack, broker and PostgreSQL included), then the idle CPU of both
over the same 60 s. Prints one Markdown table: both columns and the ratio ours / baseline, then
each stack's CPU per task by part and its worker's by role (Celery main process, task supervisors,
task processes, with the kernel's part: local_stack/worker_cpu.py).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from deploy_airflow_on_ecs_fargate import contract
from deploy_airflow_on_ecs_fargate.settings import AIRFLOW_DEFAULTS
from local_stack import postgres
from local_stack.airflow_api import AirflowApi
from local_stack.baseline import ADMIN as BASELINE_ADMIN
from local_stack.baseline import LOAD_OPTIONS, BaselineError, BaselineStack, free_port, user_shell
from local_stack.benchmark_figures import (
    SideFigures,
    cpu_breakdown,
    difference,
    split,
    table,
    worker_breakdown,
)
from local_stack.environment import api_url
from local_stack.paths import REPO_ROOT, StackPaths
from local_stack.processes import group_members, running_pid
from local_stack.settings import LocalSettings
from local_stack.stack import BROKER, COMPONENTS
from local_stack.worker_cpu import worker_cpu_by_role

# How often the benchmark asks whether a run has ended. The duration is the run's own end_date, so
# the poll only decides when the next run starts. A large run is polled rarely: Airflow's run
# response lists the run's DAG versions, read through every task instance of the run (about 15 of
# a mapped task's CPU-ms went to the benchmark's own 0.25 s polls of a 252-task run).
POLL_SECONDS = 0.25
LARGE_RUN_POLL_SECONDS = 2.0


def timed_run(api: AirflowApi, dag_id: str, conf: dict | None = None, poll: float = POLL_SECONDS) -> float:
    started = datetime.datetime.now(datetime.UTC)
    run_id = api.trigger(dag_id, conf)
    state = api.wait_for_run(dag_id, run_id, timeout=600, poll=poll)
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


def cpu_by_part(paths: StackPaths, parts: tuple[str, ...] | None = None) -> dict[str, float]:
    """CPU-seconds used so far by each part's process group (pid file under ``paths``; default: the
    components and the broker) and by PostgreSQL."""
    usage = {}
    for name in parts or (*(c.name for c in COMPONENTS), BROKER):
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


BENCHMARK_HOME = REPO_ROOT / ".local" / "benchmark"
IDLE_SETTLE_SECONDS = 10


class ProjectStack:
    """This project's local stack (`python -m local_stack up`, what `make up` runs), started by the
    benchmark in a home and on ports of its own, and stopped by it (`down`)."""

    def __init__(self, home: Path):
        self.paths = StackPaths(home)
        ports = {port.variable: str(free_port()) for port in contract.PORTS}
        self.environment = {
            **{name: value for name, value in os.environ.items() if not name.startswith("LOCAL_STACK")},
            **ports,
            "LOCAL_STACK_HOME": str(home),
            "LOCAL_STACK_POSTGRES_PORT": str(free_port()),
            "LOCAL_STACK_SQS_PORT": str(free_port()),
            # Benchmark tasks are tiny: `down` need not wait minutes for them.
            "LOCAL_STACK_WORKER_STOP_TIMEOUT": "30",
        }

    parts = (*(c.name for c in COMPONENTS), BROKER, "supervisor")

    def _local_stack(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "local_stack", command],
            env=self.environment,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    def __enter__(self) -> ProjectStack:
        self._local_stack("down")  # whatever an interrupted earlier run left
        try:
            started = self._local_stack("up")
        except BaseException:
            self.stop()
            raise
        if started.returncode != 0:
            self.stop()
            lines = (started.stderr or started.stdout).strip().splitlines()
            raise BaselineError(f"our stack did not start: {lines[-1] if lines else started.returncode}")
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        stopped = self._local_stack("down")
        if stopped.returncode != 0:
            print(f"benchmark: stopping our stack failed: {stopped.stderr.strip()}", file=sys.stderr)

    @property
    def running_environment(self) -> dict[str, str]:
        return json.loads(self.paths.environment_file.read_text())

    def login(self) -> AirflowApi:
        environment = self.running_environment
        return AirflowApi.login(
            api_url(environment), environment["AIRFLOW_ADMIN_USERNAME"], environment["AIRFLOW_ADMIN_PASSWORD"]
        )

    def load(self) -> dict[str, str]:
        """Parallelism and worker concurrency as our components resolve them."""
        environment = self.running_environment
        given = {name: environment.get(name) or AIRFLOW_DEFAULTS.get(name) for name in LOAD_OPTIONS}
        return airflow_values({name: value for name, value in given.items() if value}, self.paths.home / "resolve")


def airflow_values(given: dict[str, str], airflow_home: Path) -> dict[str, str]:
    """What Airflow makes of LOAD_OPTIONS with ``given`` set (its own defaults for the rest)."""
    airflow_home.mkdir(parents=True, exist_ok=True)
    names = ", ".join(repr(name) for name in LOAD_OPTIONS)
    program = (
        "import json; from airflow.configuration import conf\n"
        f"print(json.dumps({{n: conf.get(*n.split('__')[1:3]) for n in ({names},)}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        env={**user_shell(os.environ), "AIRFLOW_HOME": str(airflow_home), **given},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@dataclass
class Side:
    name: str
    api: AirflowApi
    paths: StackPaths
    parts: tuple[str, ...]
    figures: SideFigures

    def cpu(self) -> dict[str, float]:
        return cpu_by_part(self.paths, self.parts)

    def worker_cpu(self) -> dict[str, tuple[float, float]]:
        return worker_cpu_by_role(self.paths.pid_file("worker"))


WARM_UP_ATTEMPTS = 3


def warm_up(side: Side) -> None:
    """One uncounted run of each DAG, tried up to three times: on a loaded machine plain Airflow's
    first send to SQS was seen to time out (a "partially initialized module" ImportError from kombu
    in its scheduler log), and the example DAGs have no retries."""
    for dag_id in ("example_one_task", "example_dynamic_task_mapping"):
        side.api.wait_for_dag(dag_id)
        for attempt in range(1, WARM_UP_ATTEMPTS + 1):
            try:
                timed_run(side.api, dag_id, {"count": 2} if "mapping" in dag_id else None)
                break
            except SystemExit as failed:
                if attempt == WARM_UP_ATTEMPTS:
                    raise
                print(f"  {side.name}: warm-up {failed}; trying again", flush=True)


def measure_round(side: Side, one_task: int, bursts: int, large: int, args: argparse.Namespace) -> None:
    figures = side.figures
    figures.one_task += [timed_run(side.api, "example_one_task") for _ in range(one_task)]
    figures.burst += [
        timed_run(side.api, "example_dynamic_task_mapping", {"count": args.mapped_count}) for _ in range(bursts)
    ]
    for _ in range(large):
        before, worker_before = side.cpu(), side.worker_cpu()
        seconds = timed_run(
            side.api, "example_dynamic_task_mapping", {"count": args.large_count}, poll=LARGE_RUN_POLL_SECONDS
        )
        used = {name: total - before.get(name, 0.0) for name, total in side.cpu().items()}
        figures.add_throughput(seconds, args.large_count + 2, used)
        figures.add_worker_roles(difference(side.worker_cpu(), worker_before))
    print(
        f"  {side.name}: {one_task} one-task, {bursts} x {args.mapped_count}, {large} x {args.large_count} done "
        f"(load average {os.getloadavg()[0]:.2f})",
        flush=True,
    )


def measure_idle_together(sides: list[Side], seconds: float) -> None:
    """Both stacks idle over the same window: both see the same load from the machine."""
    time.sleep(IDLE_SETTLE_SECONDS)
    before = [side.cpu() for side in sides]
    time.sleep(seconds)
    for side, start in zip(sides, before, strict=True):
        used = sum(total - start.get(name, 0.0) for name, total in side.cpu().items())
        side.figures.idle_cpu_percent = 100 * used / seconds


def compare(args: argparse.Namespace) -> int:
    if args.rounds < 1 or min(args.runs, args.mapped_runs, args.large_runs) < 1:
        print("benchmark: --rounds and the run counts must be 1 or more", file=sys.stderr)
        return 2
    where, day = machine(), time.strftime("%Y-%m-%d")
    began = time.monotonic()
    print("benchmark: starting our stack and plain Airflow, each on ports of its own ...", flush=True)
    try:
        with ProjectStack(BENCHMARK_HOME / "project") as project:
            load = project.load()
            with BaselineStack(BENCHMARK_HOME / "baseline", load) as baseline:
                print(
                    f"benchmark: both up in {time.monotonic() - began:.0f} s; the same load limits: {load}", flush=True
                )
                ours = Side("ours", project.login(), project.paths, project.parts, SideFigures())
                theirs = Side(
                    "baseline",
                    AirflowApi.login(baseline.url, *BASELINE_ADMIN),
                    baseline.paths,
                    baseline.parts,
                    SideFigures(),
                )
                for side in (ours, theirs):
                    warm_up(side)
                plan = zip(
                    split(args.runs, args.rounds),
                    split(args.mapped_runs, args.rounds),
                    split(args.large_runs, args.rounds),
                    strict=True,
                )
                for number, (one_task, bursts, large) in enumerate(plan, 1):
                    print(f"benchmark: round {number} of {args.rounds}", flush=True)
                    for side in (ours, theirs):
                        measure_round(side, one_task, bursts, large, args)
                measure_idle_together([ours, theirs], args.idle_seconds)
    except (BaselineError, postgres.PostgresError) as error:
        print(f"benchmark: {error}", file=sys.stderr)
        return 1
    print(
        f"\nMeasured {day} on {where}, load average after: {os.getloadavg()[0]:.2f}; "
        f"{args.rounds} alternating rounds, {time.monotonic() - began:.0f} s in all; limits {load}; "
        f"idle over {args.idle_seconds:.0f} s\n"
    )
    print(table(ours.figures, theirs.figures, burst_tasks=args.mapped_count, large_count=args.large_count))
    for side in (ours, theirs):
        print(f"\nCPU-ms per task by part, {side.name}: {cpu_breakdown(side.figures)}")
        print(f"CPU-ms per task of the worker by role, {side.name}: {worker_breakdown(side.figures)}")
    return 0


def _interrupt_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so both stacks are stopped."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


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
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="instead: start our stack and plain tuned Airflow side by side and compare them (about 15 min)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="with --baseline: alternating rounds (default 2)")
    parser.add_argument("--large-runs", type=int, default=4, help="with --baseline: large mapped runs (default 4)")
    parser.add_argument("--large-count", type=int, default=250, help="with --baseline: tasks per large run")
    parser.add_argument("--idle-seconds", type=float, default=60, help="with --baseline: idle window (default 60)")
    args = parser.parse_args()
    if args.baseline:
        _interrupt_on_sigterm()
        try:
            return compare(args)
        except KeyboardInterrupt:
            print("benchmark: interrupted; both stacks were stopped", file=sys.stderr)
            return 130
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
