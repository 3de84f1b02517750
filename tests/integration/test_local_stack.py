"""The real local stack, brought up once for this module: PostgreSQL, moto's SQS, and the five
Airflow components started through the container entrypoint. Tests run in file order: the last
ones stop parts of the stack on purpose."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from deploy_airflow_on_ecs_fargate import contract
from local_stack import postgres
from local_stack.airflow_api import AirflowApi
from local_stack.environment import api_url
from local_stack.paths import StackPaths
from local_stack.processes import group_members, running_pid, stop_group
from local_stack.stack import COMPONENTS, line
from tests.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.integration

# A short long-poll here: a stopped worker's abandoned poll then expires in seconds (see
# test_queued_work_survives_down_and_up). Task heartbeat timeout short, so a killed task is
# detected in seconds rather than Airflow's 5 minutes.
TEST_SETTINGS = {
    "AIRFLOW_SQS_WAIT_TIME_SECONDS": "2",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    "LOCAL_STACK_WORKER_STOP_TIMEOUT": "120",
}


def local_stack(command: str, environment: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "local_stack", command],
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    print(result.stdout, result.stderr)
    return result


def clean_environment() -> dict[str, str]:
    """This process's environment without what earlier tests or pytest itself put there: the
    stack must see a user's shell, not a test session's Airflow settings."""
    return {
        name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "PYTEST", "LOCAL_STACK"))
    }


def print_log_tails(paths: StackPaths, lines: int = 40) -> None:
    """On failure, show the components' last lines in the test output (the state is deleted)."""
    for log in sorted(paths.logs.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"\n===== {log.name} (last {len(tail)} lines) =====", *tail, sep="\n", file=sys.__stderr__)
    for log in sorted((paths.airflow_home / "logs").rglob("*.log"))[-3:]:
        print(f"\n===== task log {log}", log.read_text(errors="replace")[-3000:], sep="\n", file=sys.__stderr__)


@pytest.fixture(scope="module")
def stack(request):
    # Not under pytest's temp root: pytest resets it to 0700, which locks out PostgreSQL's own
    # system user when the tests run as root.
    home = Path(tempfile.mkdtemp(prefix="local-stack-test-"))
    # The DAG folder is given as a standard AIRFLOW__ variable: the test-only DAG in it can only
    # be parsed, scheduled and run if that variable reached every component.
    dags = home / "dags"
    dags.mkdir()
    for source in [*(REPO_ROOT / "dags").glob("*.py"), *(Path(__file__).parent / "dags").glob("*.py")]:
        shutil.copy(source, dags)
    # Ports of its own, so that the tests run beside a developer's `make up` stack.
    ports = {port.variable: str(free_port()) for port in contract.PORTS}
    ports.update(LOCAL_STACK_POSTGRES_PORT=str(free_port()), LOCAL_STACK_SQS_PORT=str(free_port()))
    environment = {
        **clean_environment(),
        **TEST_SETTINGS,
        **ports,
        "LOCAL_STACK_HOME": str(home / "state"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
    }
    paths = StackPaths(home / "state")
    failures_before = request.session.testsfailed
    try:
        started = local_stack("up", environment)
        assert started.returncode == 0, started.stderr
        yield paths, environment, started.stdout
    finally:
        if request.session.testsfailed > failures_before or not paths.environment_file.exists():
            print_log_tails(paths)
        # Each component leads its own process group: after `down` none may have a member left.
        groups = [pid for c in COMPONENTS if (pid := running_pid(paths.pid_file(c.name)))]
        stopped = local_stack("down", environment)
        assert stopped.returncode == 0, stopped.stderr
        leftovers = [p for pgid in groups for p in group_members(pgid) if p.status() != psutil.STATUS_ZOMBIE]
        assert leftovers == []
        assert not postgres.is_running(paths.pgdata)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def api(stack) -> AirflowApi:
    _, environment, _ = stack
    return AirflowApi.login(
        api_url(environment),
        environment.get("AIRFLOW_ADMIN_USERNAME", "admin"),
        environment.get("AIRFLOW_ADMIN_PASSWORD", "admin"),
    )


def test_up_reports_every_component_healthy_and_the_login(stack):
    _, environment, output = stack
    for component in COMPONENTS:
        assert line(component.name, "healthy") in output
    assert f"{api_url(environment)}  (login admin / admin)" in output
    status = local_stack("status", environment)
    assert status.returncode == 0, status.stdout
    assert status.stdout.count("healthy:") == len(COMPONENTS)


def test_up_twice_starts_no_duplicates(stack):
    paths, environment, _ = stack
    before = {c.name: running_pid(paths.pid_file(c.name)) for c in COMPONENTS}
    again = local_stack("up", environment)
    assert again.returncode == 0
    assert "every component was already running" in again.stdout
    assert {c.name: running_pid(paths.pid_file(c.name)) for c in COMPONENTS} == before
    # Session leaders only (the stack starts each component in its own session): a scheduler
    # forks helpers with the same command line, some in process groups of their own. This
    # stack's only: a developer's `make up` stack may run beside the tests.
    scheduler_command = ["-m", "deploy_airflow_on_ecs_fargate.airflow_cli", "scheduler"]
    schedulers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"]
        and p.info["cmdline"][1:4] == scheduler_command
        and os.getsid(p.pid) == p.pid
        and p.environ().get("AIRFLOW_HOME") == str(paths.airflow_home)
    ]
    assert len(schedulers) == 1


def listening_sockets(paths: StackPaths) -> dict[str, list[str]]:
    """Every listening TCP socket of the stack's processes, by part, read from the system."""
    groups = {c.name: running_pid(paths.pid_file(c.name)) for c in COMPONENTS}
    groups["sqs"] = running_pid(paths.pid_file("sqs"))
    processes = {name: group_members(pgid) for name, pgid in groups.items() if pgid}
    processes["postgres"] = [psutil.Process(pid) for pid in [postgres.server_pid(paths.pgdata)] if pid]
    found: dict[str, list[str]] = {}
    for name, members in processes.items():
        for process in members:
            for connection in process.net_connections(kind="tcp"):
                if connection.status == psutil.CONN_LISTEN:
                    found.setdefault(name, []).append(f"{connection.laddr.ip}:{connection.laddr.port}")
    return found


def test_nothing_listens_beyond_loopback(stack):
    paths, environment, _ = stack
    sockets = listening_sockets(paths)
    # Every server the contract names is up, and found on the port the environment gave it.
    expected = {c.name: {p.resolve(environment) for p in c.ports} for c in COMPONENTS if c.ports}
    for name, ports in expected.items():
        assert ports <= {int(address.rsplit(":", 1)[1]) for address in sockets.get(name, [])}, (name, sockets)
    exposed = [
        f"{name} {address}"
        for name, addresses in sockets.items()
        for address in addresses
        if not address.startswith("127.")
    ]
    assert exposed == []


@pytest.mark.parametrize(
    ("dag_id", "conf", "expected_successes"),
    [
        ("example_one_task", {}, 1),
        ("example_bash_operator", {}, 5),
        ("example_deferrable_sensor", {}, 2),
        ("example_dynamic_task_mapping", {"count": 20}, 22),
    ],
)
def test_example_dag_succeeds_when_triggered_through_the_api(api, dag_id, conf, expected_successes):
    api.wait_for_dag(dag_id)
    run_id = api.trigger(dag_id, conf)
    assert api.wait_for_run(dag_id, run_id, timeout=180) == "success"
    states = [ti["state"] for ti in api.task_instances(dag_id, run_id)]
    assert states.count("success") == expected_successes


def test_a_task_log_is_readable_through_the_api(api):
    api.wait_for_dag("example_bash_operator")
    run_id = api.trigger("example_bash_operator")
    assert api.wait_for_run("example_bash_operator", run_id, timeout=180) == "success"
    log = api.task_log("example_bash_operator", run_id, "runme_1", 1)
    assert "example_bash_operator__runme_1__" in log


def test_a_worker_killed_mid_task_loses_nothing(stack, api):
    paths, environment, _ = stack
    dag_id, task_id = "integration_long_task", "sleep_then_succeed"
    api.wait_for_dag(dag_id)
    run_id = api.trigger(dag_id)
    deadline = time.monotonic() + 120
    while api.task_instance(dag_id, run_id, task_id)["state"] != "running":
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.2)
    time.sleep(2)
    worker = running_pid(paths.pid_file("worker"))
    # The whole container dies at once: main process, pool and the task's own processes.
    os.killpg(worker, signal.SIGKILL)
    restarted = local_stack("up", environment)
    assert restarted.returncode == 0 and line("worker", "healthy") in restarted.stdout
    assert api.wait_for_run(dag_id, run_id, timeout=240) == "success"
    task = api.task_instance(dag_id, run_id, task_id)
    assert task["try_number"] >= 2, "the killed try cannot have succeeded: a new try must have run"
    assert "finished" in api.task_log(dag_id, run_id, task_id, task["try_number"])


def test_queued_work_survives_down_and_up(stack, api):
    paths, environment, _ = stack
    dag_id = "example_one_task"
    # No worker: the task stays queued in SQS. Wait out the stopped worker's last long poll,
    # which would otherwise still take the message (a poll outlives its client).
    assert stop_group(paths.pid_file("worker"), timeout=60) == "stopped"
    time.sleep(int(TEST_SETTINGS["AIRFLOW_SQS_WAIT_TIME_SECONDS"]) + 1)
    run_id = api.trigger(dag_id)
    deadline = time.monotonic() + 60
    while api.task_instance(dag_id, run_id, "hello")["state"] != "queued":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    stopped = local_stack("down", environment)
    assert stopped.returncode == 0
    assert "1 queued task message(s) kept for the next `make up`" in stopped.stdout
    assert json.loads(paths.sqs_backlog_file.read_text())
    started = local_stack("up", environment)
    assert started.returncode == 0
    assert "1 queued task message(s) from the last `make down` sent again" in started.stdout
    assert not paths.sqs_backlog_file.exists()
    api = AirflowApi.login(api.base_url, "admin", "admin")
    assert api.wait_for_run(dag_id, run_id, timeout=180) == "success"
    assert api.task_instance(dag_id, run_id, "hello")["try_number"] == 1, "the original try ran, nothing retried"
