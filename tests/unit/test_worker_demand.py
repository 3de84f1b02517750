"""The worker-demand publisher: its count against a real PostgreSQL with task instances in every
state, its arithmetic, what it puts into CloudWatch (moto) and its health check."""

from __future__ import annotations

import datetime
import json
import time

import boto3
import psycopg2
import pytest
from moto import mock_aws

from deploy_airflow_on_ecs_fargate import health, worker_demand
from deploy_airflow_on_ecs_fargate.settings import load_demand_settings
from deploy_airflow_on_ecs_fargate.worker_demand import HeldMaximum, Publisher, workers_needed

# Airflow's TaskInstanceState values; only queued and running hold or wait for a worker slot.
STATES = {
    "queued": 3,
    "running": 2,
    "scheduled": 4,
    "deferred": 1,
    "up_for_retry": 1,
    "up_for_reschedule": 1,
    "success": 5,
    "failed": 2,
    "skipped": 1,
    "removed": 1,
    "restarting": 1,
    "upstream_failed": 1,
}


@pytest.fixture
def database(postgres_port):
    """A task_instance table with the columns the count reads, in a real PostgreSQL."""
    connection = psycopg2.connect(f"postgresql://airflow:airflow@127.0.0.1:{postgres_port}/airflow")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS task_instance")
        cursor.execute("CREATE TABLE task_instance (id serial, state varchar(20), queue varchar(256))")
        for state, count in STATES.items():
            for _ in range(count):
                cursor.execute("INSERT INTO task_instance (state, queue) VALUES (%s, 'default')", (state,))
        # Another queue no worker of this deployment consumes.
        cursor.execute("INSERT INTO task_instance (state, queue) VALUES ('queued', 'gpu')")
        cursor.execute("INSERT INTO task_instance (state, queue) VALUES (NULL, 'default')")
    yield connection
    connection.close()


def test_only_queued_and_running_task_instances_of_the_workers_queues_count(database):
    assert worker_demand.count_queued_and_running(database, ["default"]) == 5
    assert worker_demand.count_queued_and_running(database, ["default", "gpu"]) == 6


def test_workers_needed_rounds_up_and_stops_at_the_maximum():
    assert [workers_needed(n, 8, 4) for n in (0, 1, 8, 9, 32, 33, 500)] == [0, 1, 1, 2, 4, 4, 4]


def test_the_held_maximum_falls_only_after_the_window():
    held = HeldMaximum(300)
    assert [held.add(t, v) for t, v in ((0, 3), (10, 1), (299, 0), (300, 0), (310, 2))] == [3, 3, 3, 1, 2]


@pytest.fixture
def demand_settings(tmp_path):
    return load_demand_settings(
        {
            "AIRFLOW_METRIC_NAMESPACE": "Airflow/test",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW_WORKER_MAX_COUNT": "10",
            "AIRFLOW_WORKER_DEMAND_HEARTBEAT_FILE": str(tmp_path / "demand"),
        }
    )


@mock_aws
def test_a_round_publishes_the_metric_and_writes_the_heartbeat(database, demand_settings):
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    clock = iter([1000.0, 1010.0])
    publisher = Publisher(
        demand_settings, ["default"], connect=lambda: database, cloudwatch=cloudwatch, clock=lambda: next(clock)
    )
    assert publisher.publish_once() == 3  # 5 tasks, 2 slots a worker
    with database.cursor() as cursor:
        cursor.execute("UPDATE task_instance SET state = 'success' WHERE state IN ('queued', 'running')")
    assert publisher.publish_once() == 3, "held at its highest value of the last 300 s"
    metrics = cloudwatch.list_metrics(Namespace="Airflow/test")["Metrics"]
    assert {m["MetricName"] for m in metrics} == {"WorkersNeeded"}
    now = datetime.datetime.now(datetime.UTC)
    stats = cloudwatch.get_metric_statistics(
        Namespace="Airflow/test",
        MetricName="WorkersNeeded",
        StartTime=now - datetime.timedelta(minutes=5),
        EndTime=now + datetime.timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum", "SampleCount"],
    )["Datapoints"]
    assert [(point["Maximum"], point["SampleCount"]) for point in stats] == [(3.0, 2.0)]
    beat = json.loads(demand_settings.heartbeat_file.read_text())
    assert (beat["published_at"], beat["value"], beat["demand"], beat["error"]) == (1010.0, 3, 0, None)


def test_a_failed_count_raises_and_the_next_round_connects_again(demand_settings):
    attempts = []

    def connect():
        attempts.append(1)
        raise psycopg2.OperationalError("connection refused")

    publisher = Publisher(demand_settings, ["default"], connect=connect, cloudwatch=None, clock=lambda: 50.0)
    for _ in range(2):
        with pytest.raises(psycopg2.OperationalError):
            publisher.publish_once()
    assert len(attempts) == 2 and not demand_settings.heartbeat_file.exists()
    # The run loop records the failed round: alive, not published.
    publisher.failed("connection refused")
    beat = json.loads(demand_settings.heartbeat_file.read_text())
    assert (beat["round_at"], beat["published_at"], beat["error"]) == (50.0, None, "connection refused")


def test_the_health_check_reads_the_heartbeat(tmp_path):
    path = tmp_path / "demand"
    environment = {"AIRFLOW_METRIC_NAMESPACE": "Airflow/test", "AIRFLOW_WORKER_DEMAND_HEARTBEAT_FILE": str(path)}
    with pytest.raises(health.Unhealthy, match="has not gone round yet"):
        health.check("worker-demand", environment)
    path.write_text(json.dumps({"round_at": time.time() - 2, "published_at": time.time() - 2, "value": 1}))
    assert health.check("worker-demand", environment).startswith("published WorkersNeeded=1 2.")
    # CloudWatch down: alive (a restart would not help), and it says so.
    path.write_text(json.dumps({"round_at": time.time() - 2, "published_at": time.time() - 90, "error": "refused"}))
    assert health.check("worker-demand", environment) == "running, but its last round failed: refused"
    path.write_text(json.dumps({"round_at": time.time() - 61, "value": 1}))
    with pytest.raises(health.Unhealthy, match=r"last round was 61 s ago \(more than 60 s\): it is stuck"):
        health.check("worker-demand", environment)
