"""Faults on the real local stack, one at a time, and what is left afterwards.

Each test injects one fault while a run of `integration_ledger` is under way. Every task of that
DAG writes one line to a ledger file when it finishes: a task lost to the fault leaves its line
missing, a task run twice (a killed try that still finished, then its retry) leaves two. Each test
also waits until `local_stack status` is green again, without anyone running `make up`.

Two profiles (FAULT_TESTS_PROFILE, tests/integration/conftest.py):
- `quick` (`make test`): shortened timeouts (task heartbeat 15 s, 2 s long polls), short runs, on
  the session's stack; the database outage and the `make up` that fails midway (a minute each)
  are left to the other profile;
- `measured` (`make test-faults`): every scenario, with the local stack's own settings and longer
  runs; the figures in the README's Reliability section come from it. The figures are printed at
  the end of the module.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from local_stack import postgres
from local_stack.airflow_api import AirflowApi
from local_stack.environment import api_url
from local_stack.paths import StackPaths
from local_stack.processes import running_pid
from local_stack.stack import line
from tests.integration.conftest import LEDGER_VARIABLE, PROFILE, SETTINGS, RunningStack
from tests.integration.stack_helpers import local_stack, new_home, processes_of, stack_environment

pytestmark = pytest.mark.integration

QUICK = PROFILE == "quick"
# A minute or more each: `make test` (quick profile) deselects them, `make test-faults` runs them.
SLOW = pytest.mark.measured_only

# Runs: (tasks, seconds each).
# More tasks than the worker has slots (16), so some are still queued when the fault hits.
BUSY_RUN = (30, 1) if QUICK else (40, 2)
LONG_TASK_SECONDS = 10 if QUICK else 30
DATABASE_OUTAGE_SECONDS = 10
# The targets: the interrupted run completes within 2 minutes of the service coming back.
RECOVERY_TARGET_SECONDS = 120
DAG = "integration_ledger"

FIGURES: list[tuple[str, str]] = []


@dataclass
class Stack:
    paths: StackPaths
    environment: dict[str, str]
    ledger: Path
    api: AirflowApi | None = None

    def login(self) -> AirflowApi:
        deadline = time.monotonic() + 120
        while True:
            try:
                self.api = AirflowApi.login(api_url(self.environment), "admin", "admin")
                return self.api
            except OSError:
                assert time.monotonic() < deadline, "the api-server did not come back"
                time.sleep(1)

    def trigger(self, count: int, seconds: float) -> str:
        assert self.api is not None
        return self.api.trigger(DAG, {"count": count, "seconds": seconds})

    def lines(self, run_id: str, started: bool = False) -> list[str]:
        path = Path(f"{self.ledger}.started") if started else self.ledger
        text = path.read_text() if path.exists() else ""
        return [entry for entry in text.splitlines() if entry.startswith(f"{run_id} ")]

    def wait_for_lines(self, run_id: str, count: int, started: bool = False, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while len(self.lines(run_id, started)) < count:
            assert time.monotonic() < deadline, f"fewer than {count} ledger lines after {timeout:.0f} s"
            time.sleep(0.1)

    def finish(self, run_id: str, timeout: float = 600) -> str:
        """Wait for the run's end, logging in again if the api-server restarted meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                assert self.api is not None
                return self.api.wait_for_run(DAG, run_id, timeout=max(1.0, deadline - time.monotonic()), poll=0.5)
            except OSError:
                assert time.monotonic() < deadline
                self.login()

    def exactly_once(self, run_id: str, count: int) -> list[str]:
        """Each task's line once: nothing lost, nothing done twice."""
        lines = self.lines(run_id)
        per_task = Counter(entry.split()[1] for entry in lines)
        assert sorted(per_task) == sorted(str(n) for n in range(count)), f"missing: {lines}"
        assert set(per_task.values()) == {1}, f"done twice: {[k for k, v in per_task.items() if v > 1]}"
        return lines

    def wait_green(self, since: float, timeout: float = 240) -> float:
        """Seconds from ``since`` until `status` exits 0 again, with nobody's help."""
        deadline = time.monotonic() + timeout
        while True:
            status = subprocess.run(
                [sys.executable, "-m", "local_stack", "status"],
                env=self.environment,
                capture_output=True,
                text=True,
                timeout=60,
            )
            if status.returncode == 0:
                return time.monotonic() - since
            assert time.monotonic() < deadline, f"status still red after {timeout:.0f} s:\n{status.stdout}"
            time.sleep(1)


def figure(name: str, text: str) -> None:
    FIGURES.append((name, text))


@pytest.fixture(scope="module", autouse=True)
def print_figures(request):
    yield
    if FIGURES:
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(f"\nFault figures ({PROFILE} profile, {os.cpu_count()} cores):")
            for name, text in FIGURES:
                print(f"  {name}: {text}")


@pytest.fixture(scope="module")
def home():
    """A state folder of its own for the `make up` runs that must fail."""
    home = new_home("fault-test-")
    yield home, stack_environment(home, {**SETTINGS, LEDGER_VARIABLE: str(home / "ledger")})
    shutil.rmtree(home, ignore_errors=True)


def test_a_bad_setting_stops_make_up_before_anything_starts(home):
    root, environment = home
    paths = StackPaths(root / "state")
    failed = local_stack("up", {**environment, "AIRFLOW__SCHEDULER__TASK_QUEUD_TIMEOUT": "30"})
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        "local stack: error: AIRFLOW__SCHEDULER__TASK_QUEUD_TIMEOUT is not an Airflow option (did you mean "
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT?): fix the name, or unset it; nothing was started"
    ]
    assert failed.stdout.strip() == ""
    assert not postgres.is_running(paths.pgdata)
    assert processes_of(paths) == []


@SLOW
def test_a_make_up_that_fails_midway_stops_what_it_started(home):
    root, environment = home
    paths = StackPaths(root / "state")
    began = time.monotonic()
    # Valid as far as `make up` can tell (a string), but no scheduler starts with it.
    failed = local_stack("up", {**environment, "AIRFLOW__CORE__EXECUTOR": "NoSuchExecutor"})
    assert failed.returncode == 1
    error = failed.stderr.strip().splitlines()
    assert len(error) == 1, error
    assert error[0].startswith("local stack: error: ")
    assert "exited during start" in error[0] and "NoSuchExecutor" in error[0]
    assert error[0].endswith("stopped what this `make up` had started")
    assert line("postgres", "started") in failed.stdout
    assert not postgres.is_running(paths.pgdata), "make up started PostgreSQL: it must stop it"
    assert processes_of(paths) == [], "a process of the failed start is still running"
    figure("failed make up", f"rolled back in {time.monotonic() - began:.0f} s (start until the scheduler exited)")


@pytest.fixture(scope="module")
def stack(running_stack: RunningStack) -> Stack:
    stack = Stack(running_stack.paths, running_stack.environment, running_stack.ledger)
    stack.login().wait_for_dag(DAG)
    return stack


def test_a_broker_restart_loses_nothing(stack):
    count, seconds = BUSY_RUN
    run_id = stack.trigger(count, seconds)
    stack.wait_for_lines(run_id, 3)
    old = running_pid(stack.paths.pid_file("sqs"))
    os.kill(old, signal.SIGKILL)
    killed = time.monotonic()
    while running_pid(stack.paths.pid_file("sqs")) in (None, old):
        assert time.monotonic() - killed < 60, "the supervisor did not restart the SQS server"
        time.sleep(0.1)
    back = time.monotonic()
    assert stack.finish(run_id) == "success"
    done = time.monotonic() - back
    lines = stack.exactly_once(run_id, count)
    assert done < RECOVERY_TARGET_SECONDS
    green = stack.wait_green(killed)
    retried = sum("try=1" not in entry for entry in lines)
    figure(
        "SQS server SIGKILLed",
        f"back after {back - killed:.1f} s; run of {count} done {done:.0f} s later; "
        f"{count}/{count} tasks once ({retried} on a second try); status green {green:.0f} s after the kill",
    )


def stop_database(paths: StackPaths) -> None:
    user = postgres._run_as()
    subprocess.run(
        [postgres._bin("pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(paths.pgdata)],
        user=user,
        check=True,
        capture_output=True,
    )


@SLOW
def test_a_database_outage_loses_nothing(stack):
    count, seconds = BUSY_RUN
    run_id = stack.trigger(count, seconds)
    stack.wait_for_lines(run_id, 3)
    stop_database(stack.paths)
    stopped = time.monotonic()
    time.sleep(DATABASE_OUTAGE_SECONDS)
    port = json.loads(stack.paths.settings_file.read_text())["postgres_port"]
    assert postgres.start(stack.paths.pgdata, port=port, log_file=stack.paths.postgres_log)
    back = time.monotonic()
    assert stack.finish(run_id) == "success"
    done = time.monotonic() - back
    lines = stack.exactly_once(run_id, count)
    assert done < RECOVERY_TARGET_SECONDS
    green = stack.wait_green(back)
    retried = sum("try=1" not in entry for entry in lines)
    figure(
        f"PostgreSQL stopped {DATABASE_OUTAGE_SECONDS} s (fast)",
        f"run of {count} done {done:.0f} s after the database was back ({back - stopped:.0f} s outage); "
        f"{count}/{count} tasks once ({retried} on a second try); status green {green:.0f} s after it was back",
    )


def test_a_worker_killed_mid_task_runs_it_again_once(stack):
    run_id = stack.trigger(1, LONG_TASK_SECONDS)
    stack.wait_for_lines(run_id, 1, started=True)
    time.sleep(2)
    worker = running_pid(stack.paths.pid_file("worker"))
    # The whole container dies at once: main process, pool and, in groups of their own, tasks.
    os.killpg(worker, signal.SIGKILL)
    killed = time.monotonic()
    assert stack.finish(run_id) == "success"
    done = time.monotonic() - killed
    # The killed try must not finish later: its task process died with the worker.
    time.sleep(max(0.0, LONG_TASK_SECONDS + 5 - done))
    (entry,) = stack.exactly_once(run_id, 1)
    assert "try=1" not in entry, "the killed try cannot have finished: its retry must have"
    assert done < RECOVERY_TARGET_SECONDS
    green = stack.wait_green(killed)
    supervisor = json.loads(stack.paths.supervisor_state_file.read_text())
    assert supervisor["orphans_killed"] + supervisor["parts"]["worker"]["leftovers_killed"] >= 1
    figure(
        "worker SIGKILLed mid-task",
        f"task succeeded on try {entry.split('try=')[1].split()[0]} {done:.0f} s after the kill, its side effect "
        f"once (the killed try's task process was killed with it); status green {green:.0f} s after",
    )


def test_a_worker_stopped_with_sigterm_finishes_its_task_first(stack):
    run_id = stack.trigger(1, LONG_TASK_SECONDS)
    stack.wait_for_lines(run_id, 1, started=True)
    worker = running_pid(stack.paths.pid_file("worker"))
    os.kill(worker, signal.SIGTERM)
    termed = time.monotonic()
    draining = local_stack("status", stack.environment)
    assert draining.returncode == 1
    assert "worker" in draining.stdout and "draining: warm shutdown" in draining.stdout
    while running_pid(stack.paths.pid_file("worker")) == worker:
        assert time.monotonic() - termed < LONG_TASK_SECONDS + 60, "the warm shutdown did not end"
        time.sleep(0.2)
    exited = time.monotonic() - termed
    assert stack.finish(run_id) == "success"
    (entry,) = stack.exactly_once(run_id, 1)
    assert "try=1" in entry, "the task finished in the try it was in"
    green = stack.wait_green(termed)
    state = json.loads(stack.paths.supervisor_state_file.read_text())["parts"]["worker"]
    assert state["last_exit"]["code"] == 0 and state["restarts"] >= 1
    figure(
        "worker SIGTERMed mid-task",
        f"task finished on try 1; worker exited {exited:.0f} s after SIGTERM (exit 0), "
        f"was restarted, status green {green:.0f} s after SIGTERM",
    )


def test_a_task_longer_than_the_stop_timeout_is_retried_and_succeeds(stack):
    # What ECS does to a worker whose task outlives the stop timeout (Spot interruption, a stop by
    # hand): SIGTERM, then, at the deadline, SIGKILL to every process of the task.
    stop_timeout = 3
    run_id = stack.trigger(1, LONG_TASK_SECONDS)
    stack.wait_for_lines(run_id, 1, started=True)
    worker = running_pid(stack.paths.pid_file("worker"))
    os.kill(worker, signal.SIGTERM)
    termed = time.monotonic()
    time.sleep(stop_timeout)
    # The worker's whole tree: its pool, and each task process in a process group of its own.
    main = psutil.Process(worker)
    for process in [main, *main.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            process.kill()
    assert stack.finish(run_id) == "success"
    done = time.monotonic() - termed
    time.sleep(max(0.0, LONG_TASK_SECONDS + 5 - done))
    (entry,) = stack.exactly_once(run_id, 1)
    assert "try=1" not in entry, "the cut try cannot have finished: its retry must have"
    assert done < RECOVERY_TARGET_SECONDS
    figure(
        "worker SIGTERMed, then SIGKILLed at a 3 s stop timeout mid-task",
        f"task succeeded on try {entry.split('try=')[1].split()[0]} {done:.0f} s after SIGTERM, its side effect once",
    )
