"""The local stack's building blocks: process groups, port checks, the SQS backlog."""

import json
import socket
import sys
import time

import psutil
import pytest
from moto.server import ThreadedMotoServer

from local_stack import broker
from local_stack.environment import component_environment
from local_stack.paths import StackPaths
from local_stack.preflight import PreflightError, ensure_port_free
from local_stack.processes import running_pid, start_detached, stop_group
from tests.conftest import free_port

# A parent that ignores SIGTERM's default (exits cleanly) and leaves a child behind.
PARENT_WITH_CHILD = (
    "import signal, subprocess, sys, time\n"
    "child = subprocess.Popen(['sleep', '300'])\n"
    "print(child.pid, flush=True)\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "time.sleep(300)\n"
)


def test_stop_group_leaves_no_orphan_behind(tmp_path):
    log, pid_file = tmp_path / "p.log", tmp_path / "p.pid"
    pid = start_detached(
        [sys.executable, "-c", PARENT_WITH_CHILD],
        log_file=log,
        pid_file=pid_file,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 10
    while not log.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(log.read_text().split()[0])
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
    while "ready" not in (tmp_path / "p.log").read_text():
        time.sleep(0.05)
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
    environment = component_environment(
        paths,
        {
            "AIRFLOW__CORE__DAGS_FOLDER": "/elsewhere/dags",
            "AIRFLOW_ADMIN_PASSWORD": "changed",
            "AWS_ENDPOINT_URL_SQS": "https://sqs.us-east-1.amazonaws.com",
            "AWS_PROFILE": "production",
        },
    )
    assert environment["AIRFLOW__CORE__DAGS_FOLDER"] == "/elsewhere/dags"
    assert environment["AIRFLOW_ADMIN_PASSWORD"] == "changed"
    assert environment["AWS_ENDPOINT_URL_SQS"].startswith("http://127.0.0.1:")
    assert "AWS_PROFILE" not in environment
    again = component_environment(paths, {})
    assert again["AIRFLOW_FERNET_SEED"] == environment["AIRFLOW_FERNET_SEED"], "secrets must survive restarts"
    assert len(again["AIRFLOW_FERNET_SEED"]) >= 32
