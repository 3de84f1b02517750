"""A task's start counts as its first heartbeat; later heartbeats are as in Airflow.

Through Airflow's own task supervisor: it forks a real child process and talks to a stand-in of
the execution API client."""

from __future__ import annotations

import datetime
import signal
import time
import uuid
from unittest import mock

import pytest
from airflow.sdk.api.datamodels._generated import DagRun, TaskInstance, TIRunContext
from airflow.sdk.execution_time import supervisor
from airflow.sdk.execution_time.supervisor import ActivitySubprocess

from deploy_airflow_on_ecs_fargate import task_start_heartbeat


def child_that_waits() -> None:
    time.sleep(0.5)


def execution_api_client() -> mock.MagicMock:
    now = datetime.datetime.now(datetime.UTC)
    run = DagRun(
        dag_id="d",
        run_id="r",
        logical_date=now,
        data_interval_start=now,
        data_interval_end=now,
        run_after=now,
        start_date=now,
        end_date=None,
        run_type="manual",
        state="running",
        consumed_asset_events=[],
        partition_key=None,
    )
    client = mock.MagicMock()
    client.task_instances.start.return_value = TIRunContext(max_tries=0, dag_run=run)
    return client


def start_task(client: mock.MagicMock) -> ActivitySubprocess:
    task_instance = TaskInstance(
        id=uuid.uuid4(), task_id="t", dag_id="d", run_id="r", try_number=1, dag_version_id=uuid.uuid4(), map_index=-1
    )
    return ActivitySubprocess.start(
        what=task_instance, dag_rel_path="d.py", bundle_info=mock.MagicMock(), client=client, target=child_that_waits
    )


@pytest.fixture
def airflows_supervisor(monkeypatch):
    """Airflow's own _on_child_started for the test, even if an earlier test in this process
    started a worker (whose worker_init installed the hook); what was there is put back after."""
    current = ActivitySubprocess.__dict__["_on_child_started"]
    if getattr(current, task_start_heartbeat.PATCHED_MARK, False):
        current = current.__wrapped__
    monkeypatch.setattr(ActivitySubprocess, "_on_child_started", current)


def heartbeats_right_after_start() -> int:
    client = execution_api_client()
    process = start_task(client)
    try:
        process._send_heartbeat_if_needed()  # the supervisor's first look at its task process
        assert client.task_instances.start.call_count == 1
        return client.task_instances.heartbeat.call_count
    finally:
        process.kill(signal.SIGKILL)
        process.wait()


def test_airflows_supervisor_sends_a_heartbeat_right_after_the_start(airflows_supervisor, monkeypatch):
    assert heartbeats_right_after_start() == 1


def test_with_the_start_counted_there_is_none(airflows_supervisor, monkeypatch):
    assert task_start_heartbeat.count_start_as_heartbeat()
    assert task_start_heartbeat.count_start_as_heartbeat()  # idempotent: wrapped once
    assert heartbeats_right_after_start() == 0


def test_the_next_heartbeat_is_due_one_interval_after_the_start(airflows_supervisor, monkeypatch):
    assert task_start_heartbeat.count_start_as_heartbeat()
    monkeypatch.setattr(supervisor, "MIN_HEARTBEAT_INTERVAL", 0.2)
    client = execution_api_client()
    process = start_task(client)
    try:
        process._send_heartbeat_if_needed()
        time.sleep(0.3)
        process._send_heartbeat_if_needed()
        assert client.task_instances.heartbeat.call_count == 1
    finally:
        process.kill(signal.SIGKILL)
        process.wait()


def test_a_supervisor_of_another_shape_is_left_alone(airflows_supervisor, monkeypatch):
    monkeypatch.setattr(task_start_heartbeat, "HEARTBEAT_FIELDS", {"_last_heartbeat_attempt", "_renamed_field"})
    original = ActivitySubprocess._on_child_started
    assert not task_start_heartbeat.count_start_as_heartbeat()
    assert ActivitySubprocess._on_child_started is original


def test_a_failed_start_still_fails(airflows_supervisor):
    task_start_heartbeat.count_start_as_heartbeat()
    client = execution_api_client()
    client.task_instances.start.side_effect = RuntimeError("409: the task instance is not queued")
    with pytest.raises(RuntimeError, match="not queued"):
        start_task(client)
