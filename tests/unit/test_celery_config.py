"""The Celery configuration Airflow builds its app from, and the worker heartbeat bootstep."""

import json
import threading
import time

import pytest
from celery import Celery

from deploy_airflow_on_ecs_fargate import worker_heartbeat


@pytest.fixture
def broker_environment(monkeypatch, valid_environment):
    for name, value in valid_environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(
        "AIRFLOW_SQS_QUEUES",
        '{"default": "https://sqs.eu-west-1.amazonaws.com/1/d", "high": "https://sqs.eu-west-1.amazonaws.com/1/h"}',
    )
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AIRFLOW_SQS_VISIBILITY_TIMEOUT", "7200")


def test_sqs_transport_uses_predefined_queues_long_polling_and_the_queue_visibility(broker_environment):
    from deploy_airflow_on_ecs_fargate.celery_config import SQS_POLLING_INTERVAL_SECONDS, build_celery_config

    config = build_celery_config()
    options = config["broker_transport_options"]
    assert options["predefined_queues"] == {
        "default": {"url": "https://sqs.eu-west-1.amazonaws.com/1/d"},
        "high": {"url": "https://sqs.eu-west-1.amazonaws.com/1/h"},
    }
    assert options["region"] == "eu-west-1"
    assert options["visibility_timeout"] == 7200
    assert options["wait_time_seconds"] == 20
    assert 0 < options["polling_interval"] == SQS_POLLING_INTERVAL_SECONDS <= 1


def test_a_worker_waits_for_its_database_and_the_scheduler_for_sqs(broker_environment):
    from deploy_airflow_on_ecs_fargate.celery_config import build_celery_config

    config = build_celery_config()
    # Results (STARTED, then the outcome) are stored before the message is acknowledged: retried
    # for about 10 minutes (120 waits of up to 10 s) rather than failing while the database is away.
    assert config["result_backend_always_retry"] is True
    assert config["result_backend_max_retries"] * config["result_backend_max_sleep_between_retries_ms"] / 2000 >= 300
    assert config["task_track_started"] is True
    # A send to an unreachable SQS is not retried inside kombu (its retry reuses a closed channel):
    # the executor sends it again (sqs_sending).
    assert config["task_publish_retry"] is False
    client = config["broker_transport_options"]["client-config"]
    assert (
        client["connect_timeout"] <= 5
        and client["read_timeout"] > config["broker_transport_options"]["wait_time_seconds"]
    )
    assert config["broker_connection_max_retries"] is None


def test_kombus_poll_chain_breaks_on_a_failed_poll_which_is_why_the_worker_replaces_it():
    from kombu.transport.SQS import Channel

    from deploy_airflow_on_ecs_fargate import sqs_consumer

    # kombu answers [] for a refused connection, a timeout or a 5xx, and its handler fails on it:
    # the next poll is never scheduled. If an upgrade fixes this, sqs_consumer may not be needed.
    with pytest.raises(AttributeError, match="'list' object has no attribute 'get'"):
        Channel._on_messages_ready(object(), "url", "queue", [])
    sqs_consumer.install()
    assert Channel._schedule_queue is sqs_consumer._schedule_queue


def test_remote_control_and_events_are_off_and_tasks_are_acknowledged_late(broker_environment):
    from deploy_airflow_on_ecs_fargate.celery_config import build_celery_config

    config = build_celery_config()
    assert config["worker_enable_remote_control"] is False
    assert config["worker_send_task_events"] is False
    assert config["task_acks_late"] is True
    assert config["worker_prefetch_multiplier"] == 1
    assert config["task_default_queue"] == "default"


# CI and this machine run as root; Celery warns about a root worker (the image runs as uid 50000).
@pytest.mark.filterwarnings("ignore::celery.platforms.SecurityWarning")
def test_worker_heartbeat_step_beats_while_consuming_and_stops_with_the_worker(tmp_path, monkeypatch):
    beat = tmp_path / "heartbeat"
    monkeypatch.setenv("AIRFLOW_WORKER_HEARTBEAT_FILE", str(beat))
    monkeypatch.setattr(worker_heartbeat, "HEARTBEAT_INTERVAL_SECONDS", 0.2)
    worker_heartbeat.install()
    app = Celery("heartbeat-test", broker="memory://", set_as_current=False)
    app.conf.worker_hijack_root_logger = False
    worker = app.Worker(
        pool="solo",
        concurrency=1,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel="WARNING",
        quiet=True,
    )
    thread = threading.Thread(target=worker.start, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not beat.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert beat.exists(), "the consumer never wrote its heartbeat"
        first = beat.stat().st_mtime
        # Beats every 0.2 s; a loaded machine may delay the timer, so wait up to 10 s for one.
        deadline = time.monotonic() + 10
        while beat.stat().st_mtime == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert beat.stat().st_mtime > first, "the heartbeat is not refreshed by the consumer's timer"
        assert json.loads(beat.read_text())["phase"] == "consuming"
    finally:
        worker.stop(in_sighandler=False)
        thread.join(timeout=20)
    assert not beat.exists(), "a stopped consumer must not leave a fresh heartbeat behind"
