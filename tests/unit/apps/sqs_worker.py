"""A Celery worker on SQS with this runtime's worker lifecycle, without Airflow: what
tests/unit/test_sqs_consumer.py runs (`celery -A tests.unit.apps.sqs_worker worker`).

The queue URL, long-poll wait and ledger file come from the test's environment."""

from __future__ import annotations

import os
import time

from celery import Celery

from deploy_airflow_on_ecs_fargate import worker_lifecycle, worker_preload

app = Celery("sqs-worker-test", broker="sqs://")
app.conf.update(
    broker_transport_options={
        "region": "us-east-1",
        "predefined_queues": {"default": {"url": os.environ["TEST_QUEUE_URL"]}},
        "wait_time_seconds": int(os.environ["AIRFLOW_SQS_WAIT_TIME_SECONDS"]),
        "polling_interval": 0.1,
        "visibility_timeout": 60,
    },
    task_default_queue="default",
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
# Airflow's task machinery is not what this worker runs.
worker_preload.STEPS = ()
worker_lifecycle.install()


@app.task(name="mark")
def mark(label: str, seconds: float = 0) -> None:
    with open(os.environ["TEST_LEDGER"] + ".started", "a") as started:
        started.write(f"{label}\n")
    time.sleep(seconds)
    with open(os.environ["TEST_LEDGER"], "a") as ledger:
        ledger.write(f"{label}\n")
