"""A real Celery worker on a real SQS emulator that stops and starts again: the consumer keeps
polling, its health check says when SQS stops answering and when it answers again, and a warm
shutdown reports draining while the running task finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import boto3
import pytest
from celery import Celery
from moto.server import ThreadedMotoServer

from deploy_airflow_on_ecs_fargate import contract, health
from tests.conftest import REPO_ROOT, free_port

WAIT_SECONDS = 1
# The bound is the long-poll wait plus a margin: shortened here so the test takes seconds.
MARGIN_SECONDS = 2


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
        except (health.Unhealthy, AssertionError):
            result = None
        if result:
            return result
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.1)


def healthy(environment):
    return health.check_worker_heartbeat(environment)


def unhealthy(environment, kind=health.Unhealthy) -> str | None:
    try:
        health.check_worker_heartbeat(environment)
    except kind as problem:
        return str(problem)
    return None


@pytest.fixture
def broker():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    client = boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    url = client.create_queue(QueueName="sqs-consumer-test")["QueueUrl"]
    yield server, url
    server.stop()


@pytest.fixture
def worker(broker, tmp_path, monkeypatch):
    _, url = broker
    monkeypatch.setattr(contract, "WORKER_POLL_MARGIN_SECONDS", MARGIN_SECONDS)
    # For the sending side (this process): the emulator, never a real AWS account.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", url.rsplit("/", 2)[0])
    environment = {
        "PATH": os.environ["PATH"],
        "AIRFLOW_WORKER_HEARTBEAT_FILE": str(tmp_path / "heartbeat"),
        "AIRFLOW_SQS_WAIT_TIME_SECONDS": str(WAIT_SECONDS),
        "TEST_QUEUE_URL": url,
        "TEST_LEDGER": str(tmp_path / "ledger"),
        "AWS_ENDPOINT_URL_SQS": url.rsplit("/", 2)[0],
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with open(tmp_path / "worker.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.unit.apps.sqs_worker", "worker", "-c", "2", "-l", "INFO"],
            env=environment,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        yield process, environment, tmp_path / "ledger"
        if process.poll() is None:
            process.kill()
            process.wait()
    print((tmp_path / "worker.log").read_text()[-4000:])


def send(url: str, label: str, seconds: float = 0) -> None:
    """What the scheduler does: a Celery app of its own sends the task to the predefined queue."""
    app = Celery("sender", broker="sqs://local:local@", set_as_current=False)
    app.conf.broker_transport_options = {"region": "us-east-1", "predefined_queues": {"default": {"url": url}}}
    app.send_task("mark", args=(label, seconds), queue="default")


def ledger_lines(path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_the_consumer_outlives_a_stopped_broker_and_its_health_check_says_so(broker, worker):
    server, url = broker
    process, environment, ledger = worker
    wait_until(lambda: healthy(environment), 60, "the worker's consumer answering")
    send(url, "before")
    wait_until(lambda: ledger_lines(ledger) == ["before"], 30, "the first task")

    server.stop()  # SQS stops answering; moto keeps its state in this process
    stopped = time.monotonic()
    reason = wait_until(lambda: unhealthy(environment), WAIT_SECONDS + MARGIN_SECONDS + 10, "unhealthy")
    assert reason.startswith("SQS has not answered the consumer's polls for"), reason
    assert time.monotonic() - stopped <= WAIT_SECONDS + MARGIN_SECONDS + 6
    assert process.poll() is None, "the worker must not exit for a broker outage"

    server.start()  # SQS answers again: kombu 5.7 would never have polled again
    wait_until(lambda: healthy(environment), 30, "the consumer polling again")
    send(url, "after")
    wait_until(lambda: ledger_lines(ledger) == ["before", "after"], 30, "a task sent after the outage")


def test_a_warm_shutdown_reports_draining_until_the_running_task_is_done(broker, worker):
    _, url = broker
    process, environment, ledger = worker
    wait_until(lambda: healthy(environment), 60, "the worker's consumer answering")
    send(url, "slow", 4)
    wait_until(lambda: ledger_lines(ledger.with_name("ledger.started")) == ["slow"], 30, "the task starting")
    process.send_signal(signal.SIGTERM)
    reason = wait_until(lambda: unhealthy(environment, health.Draining), 5, "draining")
    assert reason.startswith("warm shutdown for"), reason
    assert process.wait(timeout=30) == 0
    assert ledger_lines(ledger) == ["slow"], "the running task finishes before the worker exits"
    with pytest.raises(health.Unhealthy, match="no worker heartbeat file"):
        health.check_worker_heartbeat(environment)
