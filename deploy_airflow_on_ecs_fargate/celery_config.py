"""Celery on Amazon SQS.

Airflow builds its Celery app from this dict (``[celery] celery_config_options``, set by the
entrypoint). It starts from Airflow's defaults and changes only what SQS needs; the trade-offs
are in docs/decisions/0002-celery-on-sqs-polling-and-visibility.md.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from deploy_airflow_on_ecs_fargate import result_backend, worker_lifecycle
from deploy_airflow_on_ecs_fargate.settings import load_broker_settings

# Client-side pause after an empty poll, and while every worker slot is busy: small, so a new
# message is not delayed, but not zero, which would spin the event loop when slots are full.
SQS_POLLING_INTERVAL_SECONDS = 0.1

# The blocking SQS client (sends, deletes): a black-holed endpoint must not hold the scheduler's
# send (bounded by [celery] operation_timeout anyway) or a worker's event loop for botocore's
# default 60 s connect timeout. Long polls go through kombu's own asynchronous client.
SQS_CONNECT_TIMEOUT_SECONDS = 5
SQS_CLIENT_ATTEMPTS = 3

# The result backend is the metadata database. While it is unreachable a worker retries storing a
# task's STARTED state and its result (backoff up to 10 s, full jitter: about 10 minutes in all)
# instead of failing: the SQS message is acknowledged only after the result is stored, so a task
# that ran, or could not start, during a database outage is never acknowledged as done unrecorded.
# Longer than an RDS Multi-AZ failover (1-2 minutes); docs/decisions/0041-no-silent-stall.md.
RESULT_BACKEND_RETRIES = 120
RESULT_BACKEND_FIRST_SLEEP_MS = 1000
RESULT_BACKEND_MAX_SLEEP_MS = 10_000

# Sending to SQS while it does not answer: no retries inside kombu. Its retry path closes the
# producer's channel and then used it again ("'NoneType' object has no attribute '_queue_cache'",
# seen in 2 of 7 emulator restarts), which fails the task. A failed send is reported to the executor
# as a timeout instead (sqs_sending.py) and sent again on its next loop, about a second later.


def build_celery_config() -> dict:
    broker = load_broker_settings()
    transport_options = {
        **DEFAULT_CELERY_CONFIG["broker_transport_options"],
        "region": broker.region,
        # Only these queues exist: kombu never lists or creates queues (no sqs:ListQueues or
        # sqs:CreateQueue permission needed) and raises for any other queue name.
        "predefined_queues": {name: {"url": url} for name, url in broker.queues.items()},
        "visibility_timeout": broker.visibility_timeout,
        "wait_time_seconds": broker.wait_time_seconds,
        "polling_interval": SQS_POLLING_INTERVAL_SECONDS,
        "client-config": {
            "connect_timeout": SQS_CONNECT_TIMEOUT_SECONDS,
            # A blocking receive (never the worker's, which is asynchronous) waits this long at most.
            "read_timeout": broker.wait_time_seconds + 10,
            "retries": {"mode": "standard", "total_max_attempts": SQS_CLIENT_ATTEMPTS},
        },
    }
    return {
        **DEFAULT_CELERY_CONFIG,
        "broker_transport_options": transport_options,
        # SQS has no fanout exchange: remote control and events would need queues that do not exist.
        "worker_enable_remote_control": False,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        # Airflow tracks task state in its own database; Celery's result is only the executor's
        # view of "done", kept in the metadata DB (Airflow's default result backend), through
        # pooled connections in every process, the scheduler's included (result_backend.py).
        "result_backend": result_backend.pooled(DEFAULT_CELERY_CONFIG["result_backend"]),
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "result_backend_always_retry": True,
        "result_backend_max_retries": RESULT_BACKEND_RETRIES,
        "result_backend_base_sleep_between_retries_ms": RESULT_BACKEND_FIRST_SLEEP_MS,
        "result_backend_max_sleep_between_retries_ms": RESULT_BACKEND_MAX_SLEEP_MS,
        # A worker that cannot reach SQS keeps trying and says so through its health check (ECS or
        # the local supervisor replaces it); exiting would only add a restart to the outage.
        "broker_connection_retry": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "task_publish_retry": False,
    }


CELERY_CONFIG = build_celery_config()
worker_lifecycle.install()
