"""The real local stack (the session's, tests/integration/conftest.py): PostgreSQL, the SQS
emulator, and the five Airflow components started through the container entrypoint by the
supervisor. Tests run in file order: the last ones stop parts of the stack on purpose."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter

import psutil
import pytest

from deploy_airflow_on_ecs_fargate import contract
from local_stack import postgres
from local_stack.airflow_api import AirflowApi
from local_stack.environment import api_url
from local_stack.paths import StackPaths
from local_stack.processes import group_members, running_pid, stop_group
from local_stack.stack import COMPONENTS, line
from tests.integration.stack_helpers import clean_environment, local_stack, print_log_tails

# Also imported by tests/integration/test_cli_local.py.
__all__ = ["clean_environment", "print_log_tails"]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(running_stack):
    return running_stack.paths, running_stack.environment, running_stack.up_output


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


def test_components_send_the_kept_metrics_and_nothing_else(api, statsd_listener):
    # The session's stack sends StatsD to the conftest's listener (LOCAL_STACK_STATSD_PORT), with the
    # contract's allow list, as the task definitions send it to the CloudWatch agent.
    heartbeats = statsd_listener.wait_for("airflow.scheduler_heartbeat:", timeout=30)
    assert heartbeats and set(heartbeats) == {"airflow.scheduler_heartbeat:1|c"}
    successes_before = len(statsd_listener.received_starting("airflow.ti_successes:"))
    api.wait_for_dag("example_one_task")
    run_id = api.trigger("example_one_task")
    assert api.wait_for_run("example_one_task", run_id, timeout=180) == "success"
    # The task's own process counts its success, on the worker.
    deadline = time.monotonic() + 30
    while len(statsd_listener.received_starting("airflow.ti_successes:")) <= successes_before:
        assert time.monotonic() < deadline, "no ti_successes after a task succeeded"
        time.sleep(0.5)
    assert set(statsd_listener.received_starting("airflow.ti_successes:")) == {"airflow.ti_successes:1|c"}
    # Every component that keeps a metric sent one; nothing outside the allow list arrived.
    names = {line.split(":", 1)[0] for line in statsd_listener.received()}
    assert {"airflow.dag_processor_heartbeat", "airflow.triggerer_heartbeat"} <= names
    assert names <= {f"{contract.STATSD_PREFIX}.{metric.name}" for metric in contract.METRICS}


def where_the_run_stood(api, paths, dag_id: str, run_id: str, state: str | None) -> str:
    dag = api.call("GET", f"/api/v2/dags/{dag_id}")
    runs = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
    states = Counter(run["state"] for run in runs)
    scheduler_log = paths.log_file("scheduler").read_text(errors="replace").splitlines()[-60:]
    return (
        f"task {state}, run {api.run_state(dag_id, run_id)}; {api.unfinished_task_count()} task instances "
        f"unfinished; dag paused {dag.get('is_paused')} stale {dag.get('is_stale')}; runs {dict(states)}; "
        "scheduler log:\n" + "\n".join(scheduler_log)
    )


def test_queued_work_survives_down_and_up_even_without_the_supervisor(stack, api):
    paths, environment, _ = stack
    dag_id = "example_one_task"
    # A new DAG is paused (Airflow's dags_are_paused_at_creation): unpause it here, not rely on an
    # earlier test having done so. Under xdist this test sometimes ran first, and its run stayed
    # queued behind a paused DAG (the diagnostic below said "dag paused True").
    api.wait_for_dag(dag_id)
    # The session's stack is shared: earlier tests' tasks (a fault scenario's retries) must be done
    # first, or they would hold the executor's slots once the worker is stopped below.
    deadline = time.monotonic() + 300
    while (unfinished := api.unfinished_task_count()) > 0:
        assert time.monotonic() < deadline, f"{unfinished} task instances of earlier tests still unfinished"
        time.sleep(1)
    # Without its supervisor the stack keeps running, unsupervised: `make status` says so.
    os.kill(running_pid(paths.pid_file("supervisor")), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while running_pid(paths.pid_file("supervisor")) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    unsupervised = local_stack("status", environment)
    assert unsupervised.returncode == 1
    assert line("supervisor", "stopped: nothing restarts a part that stops") in unsupervised.stdout
    # No worker (and nothing restarts it): the task stays queued in SQS. The SQS server ends the
    # stopped worker's open long poll, so the message is not swallowed by it.
    assert stop_group(paths.pid_file("worker"), timeout=60) == "stopped"
    run_id = api.trigger(dag_id)
    deadline = time.monotonic() + 60
    while (state := api.task_instance(dag_id, run_id, "hello")["state"]) != "queued":
        # If it ever times out again: say where the run stood.
        assert time.monotonic() < deadline, where_the_run_stood(api, paths, dag_id, run_id, state)
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
