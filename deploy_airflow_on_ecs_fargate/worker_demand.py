"""How many workers the queued and running tasks need: the metric worker autoscaling follows.

`WorkersNeeded = min(maximum, ceil((queued + running) / concurrency))`, held at its highest value
of the last `scale_in_after` seconds: capacity rises at once and falls only when demand has stayed
lower that long (docs/decisions/0050-worker-autoscaling.md). The CDK app alarms on the metric
named here; the publisher (the contract's `worker-demand` component, run beside the scheduler:
`python -m deploy_airflow_on_ecs_fargate.worker_demand`) counts task instances in the metadata
database and puts the metric every period.

Standard library only at import (boto3 and psycopg2 are imported by `run`): the CDK app imports
the names.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import threading
import time
from collections import deque
from pathlib import Path

log = logging.getLogger("deploy_airflow_on_ecs_fargate.worker_demand")

METRIC_NAME = "WorkersNeeded"
# The deployment's namespace is "Airflow/<deployment name>" (the scheduler may publish nowhere else).
NAMESPACE_PREFIX = "Airflow/"
# CloudWatch's high resolution: alarms can evaluate every 10 s.
STORAGE_RESOLUTION_SECONDS = 1


def workers_needed(queued_and_running: int, concurrency: int, maximum: int) -> int:
    """Workers that give every queued and running task a slot, at most `maximum`."""
    return min(maximum, math.ceil(queued_and_running / concurrency))


class HeldMaximum:
    """The highest value of the last `window` seconds: the metric the alarms see."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._values: deque[tuple[float, int]] = deque()

    def add(self, now: float, value: int) -> int:
        self._values.append((now, value))
        while self._values[0][0] <= now - self.window:
            self._values.popleft()
        return max(held for _, held in self._values)


# Task instances that hold or wait for a worker slot (Airflow's TaskInstanceState values).
SLOT_STATES = ("queued", "running")
COUNT_QUERY = "SELECT count(*) FROM task_instance WHERE state = ANY(%s) AND queue = ANY(%s)"


def count_queued_and_running(connection, queues: list[str]) -> int:
    """Task instances queued or running on the workers' queues (a psycopg2 connection)."""
    with connection.cursor() as cursor:
        cursor.execute(COUNT_QUERY, (list(SLOT_STATES), queues))
        (count,) = cursor.fetchone() or (0,)
    return int(count)


class Publisher:
    """Counts, holds and publishes every period; writes the heartbeat file after each success."""

    def __init__(self, settings, queues: list[str], *, connect, cloudwatch, clock=time.time) -> None:
        self.settings = settings
        self.queues = queues
        self.connect = connect
        self.cloudwatch = cloudwatch
        self.clock = clock
        self.held = HeldMaximum(settings.scale_in_after)
        self.connection = None
        self.last: dict = {"published_at": None, "value": None, "demand": None}

    def publish_once(self) -> int:
        """One count and one PutMetricData; returns the value published."""
        now = self.clock()
        try:
            if self.connection is None or self.connection.closed:
                self.connection = self.connect()
            count = count_queued_and_running(self.connection, self.queues)
        except Exception:
            self._forget_connection()
            raise
        value = self.held.add(now, workers_needed(count, self.settings.concurrency, self.settings.max_workers))
        self.cloudwatch.put_metric_data(
            Namespace=self.settings.namespace,
            MetricData=[
                {
                    "MetricName": METRIC_NAME,
                    "Value": value,
                    "Unit": "Count",
                    "StorageResolution": STORAGE_RESOLUTION_SECONDS,
                }
            ],
        )
        self.last = {"round_at": now, "published_at": now, "value": value, "demand": count, "error": None}
        write_heartbeat(self.settings.heartbeat_file, self.last)
        return value

    def failed(self, reason: str) -> None:
        """A round that could not publish: the loop is alive, the last success stays on record."""
        now = self.clock()
        self.last = {**self.last, "round_at": now, "error": reason}
        write_heartbeat(self.settings.heartbeat_file, self.last)

    def _forget_connection(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
        self.connection = None


def write_heartbeat(path: Path, content: dict) -> None:
    """Replace the file at once: the health check never reads half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(content))
    partial.replace(path)


def run(stop: threading.Event | None = None) -> None:
    """Publish every period until stopped (SIGTERM); a failed round is logged and retried."""
    import boto3
    import psycopg2

    from deploy_airflow_on_ecs_fargate.database import libpq_url
    from deploy_airflow_on_ecs_fargate.settings import load_settings

    settings = load_settings("worker-demand")
    assert settings.demand is not None and settings.broker is not None
    stop = stop or threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    publisher = Publisher(
        settings.demand,
        list(settings.broker.queues),
        connect=lambda: _autocommit(psycopg2.connect(libpq_url(settings.database_url), connect_timeout=5)),
        cloudwatch=boto3.client("cloudwatch", region_name=settings.broker.region),
    )
    log.info("publishing %s to %s every %s s", METRIC_NAME, settings.demand.namespace, settings.demand.period)
    while not stop.is_set():
        started = time.monotonic()
        try:
            publisher.publish_once()
        except Exception as error:  # the database or CloudWatch: next round tries again
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            log.warning("could not publish %s: %s (trying again next round)", METRIC_NAME, reason)
            publisher.failed(reason)
        stop.wait(max(0.0, settings.demand.period - (time.monotonic() - started)))


def _autocommit(connection):
    connection.autocommit = True  # one query per round: no transaction left open
    return connection


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run()


if __name__ == "__main__":
    main()
