"""Where a task's CPU goes on the running local stack: py-spy on every part during a burst of tiny tasks.

`make up` first (or point LOCAL_STACK_HOME at another running stack), then
`.venv/bin/python scripts/profile_task_path.py --count 250`. It samples each component (the worker
with its Airflow task supervisors and task processes) with py-spy while one run of
example_dynamic_task_mapping with COUNT mapped tasks goes from trigger to success, measures each
part's CPU with psutil over the same window (the broker and PostgreSQL included), and prints the
CPU-ms per task of each part, the worker's split between its processes, and each part's top
functions (inclusive share of that part's on-CPU samples). py-spy needs ptrace rights (root, or
kernel.yama.ptrace_scope=0). Figures: docs/decisions/0080-where-a-task-spends-its-cpu.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from local_stack.airflow_api import AirflowApi
from local_stack.environment import api_url
from local_stack.paths import StackPaths
from local_stack.processes import running_pid
from local_stack.settings import LocalSettings
from local_stack.stack import COMPONENTS

PY_SPY = Path(sys.executable).parent / "py-spy"
# Frames that are only the way in (every sample of a process has them), or wrappers: left out.
ENTRY_FRAMES = re.compile(
    r"(^(<module>|main|run|_run|wrapper|__call__|_bootstrap|_bootstrap_inner|start|_run_code|_run_module_as_main) )"
    r"|(<locals>\.(wrapper|wrapped_function|decorator|new_func|caller|command|retry_decorator))"
    r"|\((click|runpy|threading|<frozen runpy>)"
)
# py-spy prefixes each stack with the processes it came from (parent first) when following subprocesses.
PROCESS_FRAME = re.compile(r'^process \d+:"(?P<cmdline>.*)"$')


def process_kind(process_frames: list[str], frames: list[str]) -> str:
    """Which process of a component a stack came from. Process titles change while py-spy watches
    (a Celery pool process renames itself "airflow supervisor" while it supervises a task, and the task
    process it forks starts with that title), so the stack tells: the task process runs from the
    supervisor's ``_fork_main``; any other stack below the main process is a pool process (Airflow's
    task supervisor and Celery's result write)."""
    if len(process_frames) <= 1:
        return "main process"
    if any(frame.startswith("_fork_main ") for frame in frames):
        return "task process"
    return "pool process: task supervisor, result write"


Profile = tuple[collections.Counter, dict[str, collections.Counter], dict[str, collections.Counter]]


def parse_raw(text: str) -> Profile:
    """py-spy's raw format: ``frame;frame;... count`` per line. Returns the samples per process kind
    and, per kind, the inclusive samples of each function (counted once per stack) and the samples
    each function was the innermost frame of (its own CPU)."""
    samples: collections.Counter = collections.Counter()
    inclusive: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    leaves: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        process_frames = []
        while frames and PROCESS_FRAME.match(frames[0]):
            process_frames.append(frames.pop(0))
        if not frames:
            continue
        kind = process_kind(process_frames, frames)
        samples[kind] += count
        functions = [re.sub(r":\d+\)$", ")", frame) for frame in frames]
        for function in set(functions):
            inclusive[kind][function] += count
        leaves[kind][functions[-1]] += count
    return samples, inclusive, leaves


def top(inclusive: collections.Counter, total: int, limit: int) -> list[tuple[str, float]]:
    picked = []
    for function, count in inclusive.most_common():
        if ENTRY_FRAMES.search(function) or count >= 0.9 * total:
            continue
        picked.append((function, count / total))
        if len(picked) == limit:
            break
    return picked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=250, help="mapped tasks in the profiled run (default 250)")
    parser.add_argument("--rate", type=int, default=50, help="py-spy samples per second (default 50)")
    parser.add_argument("--top", type=int, default=10, help="functions listed per part (default 10)")
    parser.add_argument("--keep", type=Path, help="keep py-spy's raw output in this folder")
    args = parser.parse_args()
    if not PY_SPY.exists():
        print("profile: py-spy is not installed: run `make install`", file=sys.stderr)
        return 1
    paths = StackPaths(LocalSettings.from_environment().home)
    try:
        environment = json.loads(paths.environment_file.read_text())
        api = AirflowApi.login(
            api_url(environment), environment["AIRFLOW_ADMIN_USERNAME"], environment["AIRFLOW_ADMIN_PASSWORD"]
        )
    except (FileNotFoundError, OSError) as error:
        print(f"profile: the local stack is not running ({error}): run `make up` first", file=sys.stderr)
        return 1
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benchmark_trigger_latency import cpu_by_part, timed_run  # type: ignore[import-not-found]

    api.wait_for_dag("example_dynamic_task_mapping")
    timed_run(api, "example_dynamic_task_mapping", {"count": 2})  # warm-up
    output = args.keep or Path(tempfile.mkdtemp(prefix="profile-"))
    output.mkdir(parents=True, exist_ok=True)
    spies = {}
    for component in COMPONENTS:
        pid = running_pid(paths.pid_file(component.name))
        if pid is None:
            continue
        command = [str(PY_SPY), "record", "--pid", str(pid), "--subprocesses", "--rate", str(args.rate)]
        command += ["--format", "raw", "--nonblocking", "--output", str(output / f"{component.name}.txt")]
        spies[component.name] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(2)  # py-spy attaches
        before = cpu_by_part(paths)
        seconds = timed_run(api, "example_dynamic_task_mapping", {"count": args.count})
        used = {name: total - before.get(name, 0.0) for name, total in cpu_by_part(paths).items()}
    finally:
        for spy in spies.values():
            spy.send_signal(signal.SIGINT)
        for spy in spies.values():
            spy.wait(timeout=60)
    tasks = args.count + 2
    print(f"{tasks} tasks in {seconds:.1f} s; CPU-ms per task by part (psutil, py-spy's own CPU excluded):")
    for name, spent in sorted(used.items(), key=lambda item: -item[1]):
        print(f"  {name:14s} {1000 * spent / tasks:6.1f}")
    print(f"  {'all':14s} {1000 * sum(used.values()) / tasks:6.1f}")
    for name in spies:
        raw = output / f"{name}.txt"
        if not raw.exists():
            spy_output = spies[name].stderr
            why = spy_output.read().decode(errors="replace").strip()[-200:] if spy_output else ""
            print(f"\n{name}: no profile ({why})")
            continue
        samples, inclusive, leaves = parse_raw(raw.read_text(errors="replace"))
        total = sum(samples.values()) or 1
        print(f"\n## {name}: {total} on-CPU samples at {args.rate}/s")
        for kind, count in samples.most_common():
            print(
                f"  {kind}: {100 * count / total:.0f} % of the samples, {1000 * used.get(name, 0) * count / total / tasks:.0f} CPU-ms per task"
            )
            for function, share in top(inclusive[kind], count, args.top):
                print(f"      {100 * share:5.1f} %  {function}")
            print("    own CPU (innermost frame):")
            for function, own in leaves[kind].most_common(5):
                print(f"      {100 * own / count:5.1f} %  {function}")
    print(f"\nraw profiles: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
