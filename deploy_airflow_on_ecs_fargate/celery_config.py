"""Celery on Amazon SQS.

Airflow builds its Celery app from this dict (``[celery] celery_config_options``, set by the
entrypoint). It starts from Airflow's defaults and changes only what SQS needs; the trade-offs
are in docs/decisions/0002-celery-on-sqs-polling-and-visibility.md.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from deploy_airflow_on_ecs_fargate import worker_heartbeat, worker_preload
from deploy_airflow_on_ecs_fargate.settings import load_broker_settings

# Client-side pause after an empty poll, and while every worker slot is busy: small, so a new
# message is not delayed, but not zero, which would spin the event loop when slots are full.
SQS_POLLING_INTERVAL_SECONDS = 0.1


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
    }
    return {
        **DEFAULT_CELERY_CONFIG,
        "broker_transport_options": transport_options,
        # SQS has no fanout exchange: remote control and events would need queues that do not exist.
        "worker_enable_remote_control": False,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        # Airflow tracks task state in its own database; Celery's result is only the executor's
        # view of "done", kept in the metadata DB (Airflow's default result backend).
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
    }


CELERY_CONFIG = build_celery_config()
worker_heartbeat.install()
worker_preload.install()
