"""What the worker preload saves each pool process: CPU-seconds of a pool process's first task path.

Stands for a Celery worker's main process (the task path imported, then, with ``--preload``, this
runtime's worker preload), which forks pool processes; each pool process then does what its first
Airflow task does outside the task itself: build the execution API client and write a Celery result
(to a SQLite result backend in a temporary AIRFLOW_HOME). Prints, for both modes, the main process's
preload CPU and RSS, and the median CPU-ms of a pool process's first task path.

    .venv/bin/python scripts/measure_worker_preload.py [--pools 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

WORKER = """
import json, os, resource, sys, time
import airflow.providers.celery.executors.celery_executor_utils as celery_utils
import airflow.sdk.execution_time.supervisor
from airflow.sdk.api.client import Client
started = time.process_time()
if sys.argv[1] == "preload":
    from deploy_airflow_on_ecs_fargate import worker_preload
    worker_preload.preload()
preload_cpu = time.process_time() - started
rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
first_task_ms = []
for number in range(int(sys.argv[2])):
    read, write = os.pipe()
    if os.fork() == 0:
        began = time.process_time()
        Client(base_url="http://127.0.0.1:8080/execution/", token="a-task-token").close()
        celery_utils.app.backend.store_result(f"task-{number}", None, "SUCCESS")
        os.write(write, str(1000 * (time.process_time() - began)).encode())
        os._exit(0)
    os.close(write)
    first_task_ms.append(float(os.read(read, 64)))
    os.wait()
print(json.dumps({"preload_cpu_s": preload_cpu, "main_rss_mib": rss_mib, "first_task_ms": first_task_ms}))
"""


def measure(mode: str, pools: int) -> dict:
    with tempfile.TemporaryDirectory() as home:
        result = subprocess.run(
            [sys.executable, "-c", WORKER, mode, str(pools)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "AIRFLOW_HOME": home,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+sqlite:///{home}/results.db",
                "PYTHONPATH": str(REPO_ROOT),
            },
            check=False,
        )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        sys.exit(f"measure_worker_preload: the {mode} worker failed: {lines[-1] if lines else result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, default=4, help="pool processes to fork per mode (default 4)")
    args = parser.parse_args()
    if args.pools < 1:
        print("measure_worker_preload: --pools must be 1 or more", file=sys.stderr)
        return 2
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for mode in ("none", "preload"):
        figures = measure(mode, args.pools)
        print(
            f"{mode:8s} main process: preload {figures['preload_cpu_s']:.2f} CPU-s, max RSS "
            f"{figures['main_rss_mib']:.0f} MiB; a pool process's first task path: median "
            f"{statistics.median(figures['first_task_ms']):.0f} CPU-ms over {args.pools}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
