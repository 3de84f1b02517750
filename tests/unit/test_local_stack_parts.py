"""The local stack's building blocks: process groups, port checks, the SQS backlog."""

import json
import socket
import sys
import time

import psutil
import pytest
from moto.server import ThreadedMotoServer

from deploy_airflow_on_ecs_fargate import contract
from local_stack import broker
from local_stack.environment import ExposureError, api_url, check_exposure, component_environment
from local_stack.paths import StackPaths
from local_stack.preflight import PreflightError, ensure_port_free
from local_stack.processes import running_pid, start_detached, stop_group
from local_stack.settings import LocalSettings, LocalSettingsError
from tests import wiring
from tests.conftest import free_port

# A parent that ignores SIGTERM's default (exits cleanly) and leaves a child behind.
PARENT_WITH_CHILD = (
    "import signal, subprocess, sys, time\n"
    "child = subprocess.Popen(['sleep', '300'])\n"
    "print(child.pid, flush=True)\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "time.sleep(300)\n"
)


def wait_for_text(path, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while text not in (content := path.read_text()):
        assert time.monotonic() < deadline, f"{path.name} did not show {text!r} within {timeout:.0f} s"
        time.sleep(0.05)
    return content


def test_stop_group_leaves_no_orphan_behind(tmp_path):
    log, pid_file = tmp_path / "p.log", tmp_path / "p.pid"
    pid = start_detached(
        [sys.executable, "-c", PARENT_WITH_CHILD],
        log_file=log,
        pid_file=pid_file,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    child = int(wait_for_text(log, "\n").split()[0])
    assert running_pid(pid_file) == pid
    assert stop_group(pid_file, timeout=5) == "stopped"
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    assert running_pid(pid_file) is None and not pid_file.exists()


def test_a_process_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path):
    pid_file = tmp_path / "p.pid"
    start_detached(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(300)",
        ],
        log_file=tmp_path / "p.log",
        pid_file=pid_file,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    wait_for_text(tmp_path / "p.log", "ready")
    assert stop_group(pid_file, timeout=0.5) == "killed after 0 s"


def test_a_recycled_pid_is_not_mistaken_for_the_component(tmp_path):
    pid_file = tmp_path / "p.pid"
    pid_file.write_text(f"{psutil.Process().pid} 12345.0\n")
    assert running_pid(pid_file) is None


def test_busy_port_is_named_with_the_fix():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(PreflightError) as error:
            ensure_port_free(port, "the api-server")
    message = str(error.value)
    assert message.startswith(f"port {port} (needed by the api-server) is already in use")
    assert "make down" in message
    ensure_port_free(port, "the api-server")  # free again: no error


@pytest.fixture
def sqs_port():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield port
    server.stop()


def test_backlog_survives_a_broker_restart_in_order(sqs_port, tmp_path):
    url = broker.ensure_queue(sqs_port, visibility_timeout=60)
    for n in range(13):
        broker.client(sqs_port).send_message(QueueUrl=url, MessageBody=f"task-{n}")
    backlog = tmp_path / "backlog.json"
    assert broker.save_backlog(sqs_port, url, backlog) == 13
    assert sorted(json.loads(backlog.read_text())) == sorted(f"task-{n}" for n in range(13))
    assert broker.client(sqs_port).receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None

    requests = urllib_post_reset(sqs_port)  # a fresh emulator: the queue and its messages are gone
    assert requests == 200
    url = broker.ensure_queue(sqs_port, visibility_timeout=60)
    assert broker.restore_backlog(sqs_port, url, backlog) == 13
    assert not backlog.exists()
    bodies = []
    while messages := broker.client(sqs_port).receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in messages]
    assert sorted(bodies) == sorted(f"task-{n}" for n in range(13))


def urllib_post_reset(port):
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request) as response:
        return response.status


def test_queue_is_created_with_the_workers_visibility_timeout(sqs_port):
    url = broker.ensure_queue(sqs_port, visibility_timeout=600)
    assert url == broker.queue_url(sqs_port)
    attributes = broker.client(sqs_port).get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
    assert attributes["Attributes"]["VisibilityTimeout"] == "600"


def test_component_environment_lets_the_user_override_but_never_the_sqs_endpoint(tmp_path):
    paths = StackPaths(tmp_path)
    paths.create()
    settings = LocalSettings.from_environment({"LOCAL_STACK_HOME": str(tmp_path)})
    environment = component_environment(
        paths,
        settings,
        {
            "AIRFLOW__CORE__DAGS_FOLDER": "/elsewhere/dags",
            "AIRFLOW_ADMIN_PASSWORD": "changed",
            "AWS_ENDPOINT_URL_SQS": "https://sqs.us-east-1.amazonaws.com",
            "AWS_PROFILE": "production",
        },
    )
    assert environment["AIRFLOW__CORE__DAGS_FOLDER"] == "/elsewhere/dags"
    assert environment["AIRFLOW_ADMIN_PASSWORD"] == "changed"
    assert environment["AWS_ENDPOINT_URL_SQS"] == f"http://127.0.0.1:{settings.sqs_port}"
    assert "AWS_PROFILE" not in environment
    again = component_environment(paths, settings, {})
    assert again["AIRFLOW_FERNET_SEED"] == environment["AIRFLOW_FERNET_SEED"], "secrets must survive restarts"
    assert len(again["AIRFLOW_FERNET_SEED"]) >= 32


def test_the_stack_listens_on_loopback_unless_told_otherwise(tmp_path):
    paths = StackPaths(tmp_path)
    paths.create()
    settings = LocalSettings.from_environment({})
    environment = component_environment(paths, settings, {})
    assert environment["AIRFLOW_LISTEN_ADDRESS"] == "127.0.0.1"
    assert environment["AIRFLOW_API_SERVER_URL"] == api_url(environment) == "http://127.0.0.1:8080"
    check_exposure(environment)  # loopback with the default password: fine
    moved = component_environment(paths, settings, {"AIRFLOW__API__PORT": "8181"})
    assert api_url(moved) == moved["AIRFLOW_API_SERVER_URL"] == "http://127.0.0.1:8181"


def test_exposing_the_stack_needs_a_password_of_ones_own(tmp_path):
    paths = StackPaths(tmp_path)
    paths.create()
    settings = LocalSettings.from_environment({})
    exposed = component_environment(paths, settings, {"AIRFLOW_LISTEN_ADDRESS": "0.0.0.0"})
    with pytest.raises(ExposureError) as error:
        check_exposure(exposed)
    message = str(error.value)
    assert message.startswith("AIRFLOW_LISTEN_ADDRESS=0.0.0.0 makes the UI reachable from other machines")
    assert "AIRFLOW_ADMIN_PASSWORD=" in message and "\n" not in message
    check_exposure({**exposed, "AIRFLOW_ADMIN_PASSWORD": "a long passphrase of my own"})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LOCAL_STACK_POSTGRES_PORT", "abc", "LOCAL_STACK_POSTGRES_PORT is not a TCP port: got 'abc'"),
        ("LOCAL_STACK_SQS_PORT", "70000", "LOCAL_STACK_SQS_PORT is not a TCP port: got '70000'"),
        ("LOCAL_STACK_WORKER_STOP_TIMEOUT", "soon", "LOCAL_STACK_WORKER_STOP_TIMEOUT is not a number of seconds"),
        ("LOCAL_STACK_STATSD_PORT", "0", "LOCAL_STACK_STATSD_PORT is not a UDP port: got '0'"),
    ],
)
def test_a_bad_local_setting_is_one_line(variable, value, message):
    with pytest.raises(LocalSettingsError, match=f"^{message}"):
        LocalSettings.from_environment({variable: value})


def test_metrics_are_off_locally_until_a_statsd_port_is_given(tmp_path):
    paths = StackPaths(tmp_path)
    paths.create()
    quiet = component_environment(paths, LocalSettings.from_environment({}), {})
    assert not [name for name in quiet if name.startswith("AIRFLOW__METRICS__")]
    settings = LocalSettings.from_environment({"LOCAL_STACK_STATSD_PORT": "18125"})
    environment = component_environment(paths, settings, {})
    # The contract's options, as the task definitions give them, to a collector on loopback.
    assert {k: v for k, v in environment.items() if k.startswith("AIRFLOW__METRICS__")} == (
        contract.statsd_environment("127.0.0.1", 18125)
    )
    assert wiring.problems("scheduler", environment) == []


@pytest.mark.parametrize("component", contract.COMPONENT_NAMES)
def test_what_the_stack_gives_each_component_passes_the_runtime_checks(tmp_path, component):
    paths = StackPaths(tmp_path)
    paths.create()
    # Only what the stack sets itself: the user's shell adds PATH, HOME and the like.
    environment = component_environment(paths, LocalSettings.from_environment({}), {})
    assert wiring.problems(component, environment) == []


# A parent with a child in a session of its own, as Airflow runs a task (own process group) and
# the BashOperator its shell (own session): the child is outside the parent's process group.
PARENT_WITH_DETACHED_CHILD = (
    "import signal, subprocess, sys, time\n"
    "child = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
    "print(child.pid, flush=True)\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "time.sleep(300)\n"
)


def test_stop_group_also_stops_what_runs_outside_the_process_group(tmp_path):
    log, pid_file = tmp_path / "p.log", tmp_path / "p.pid"
    start_detached(
        [sys.executable, "-c", PARENT_WITH_DETACHED_CHILD],
        log_file=log,
        pid_file=pid_file,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    child = psutil.Process(int(wait_for_text(log, "\n").split()[0]))
    assert stop_group(pid_file, timeout=5) == "stopped"
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
