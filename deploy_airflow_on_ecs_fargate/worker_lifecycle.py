"""The Celery worker's lifecycle: every hook this runtime adds to a worker, in one place.

celery_config calls ``install()`` at import. The scheduler and the api-server import celery_config
too (to send tasks, to read results); the hooks act only in a process that starts a worker. The
scheduler's own process-level hook (sqs_sending) is installed by airflow_cli.

| when (Celery signal or step)            | what happens                                               | where            |
|-----------------------------------------|------------------------------------------------------------|------------------|
| ``celeryd_init``                        | the heartbeat consumer step is added                       | worker_heartbeat |
| ``worker_init``, before the pool forks  | task machinery, models, API client SSL context: done once  | worker_preload   |
| ``worker_init``, before the pool forks  | a task's start counts as its first heartbeat               | task_start_heartbeat |
| while the consumer runs                 | a failed SQS poll is retried with backoff, never the end   | sqs_consumer     |
| every 5 s, from the event loop          | the heartbeat file: when SQS last answered, the phase      | worker_heartbeat |
| ``task_received`` (a message taken)     | ECS task scale-in protection on, before the task starts    | task_protection  |
| every 5 s, from the event loop          | protection follows busy/idle, renewed while busy           | task_protection  |
| ``worker_shutting_down`` (SIGTERM)      | phase ``draining``: written at once to the heartbeat file  | here             |
| ``worker_shutdown``, the very end       | the heartbeat file is removed: no worker, no heartbeat     | here             |

Draining is Celery's warm shutdown: the consumer stops taking messages, running tasks finish, then
the process exits. The health check reports it as its own state (``health.Draining``) so that a
supervisor waits for the exit instead of restarting a worker that is finishing its tasks.

Scale-in protection (task_protection) keeps ECS from stopping a busy worker when autoscaling
lowers the count or a deployment replaces tasks; a SIGTERM still comes from a Spot interruption
(two minutes' warning) or a stop by hand, and then draining applies.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from celery import bootsteps, signals

from deploy_airflow_on_ecs_fargate import sqs_consumer, task_start_heartbeat, worker_heartbeat, worker_preload
from deploy_airflow_on_ecs_fargate.task_protection import TaskProtection

log = logging.getLogger(__name__)

CONSUMING = "consuming"
DRAINING = "draining"


@dataclass
class WorkerState:
    """What this worker process is doing; written to the heartbeat file."""

    phase: str = CONSUMING
    draining_since: float | None = None

    def drain(self, now: float) -> None:
        if self.phase != DRAINING:
            self.phase, self.draining_since = DRAINING, now


STATE = WorkerState()
PROTECTION = TaskProtection.from_environment()
PROTECTION_CHECK_SECONDS = 5.0


def busy() -> bool:
    """Whether this worker holds a task: running, or received and waiting for a slot."""
    from celery.worker import state

    return bool(state.active_requests or state.reserved_requests)


def _on_task_received(**_) -> None:
    # Before the task starts: no window in which a scale-in could pick this worker.
    PROTECTION.follow(True, time.time())


class ProtectionStep(bootsteps.StartStopStep):
    """Consumer step: every few seconds, protection follows whether the worker is busy."""

    requires = frozenset({"celery.worker.consumer.tasks:Tasks"})

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.timer_entry = None

    def start(self, consumer):
        self.timer_entry = consumer.timer.call_repeatedly(PROTECTION_CHECK_SECONDS, self.check)

    def check(self):
        PROTECTION.follow(busy(), time.time())

    def stop(self, consumer):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    shutdown = stop


def _add_protection_step(sender, instance, **_) -> None:
    steps = instance.app.steps["consumer"]
    if ProtectionStep not in steps:
        steps.add(ProtectionStep)


def _on_shutting_down(sig=None, how=None, **_) -> None:
    STATE.drain(time.time())
    log.info("%s shutdown on %s: no new tasks, running tasks finish first", how, sig)
    worker_heartbeat.write_now()


def _on_shutdown(**_) -> None:
    worker_heartbeat.remove()


def install() -> None:
    """Connect every hook for any worker this process starts (idempotent)."""
    worker_heartbeat.install()
    worker_preload.install()
    task_start_heartbeat.install()
    sqs_consumer.install()
    signals.celeryd_init.connect(_add_protection_step, weak=False, dispatch_uid="airflow-worker-protection")
    signals.task_received.connect(_on_task_received, weak=False, dispatch_uid="airflow-worker-protect-on-receive")
    signals.worker_shutting_down.connect(_on_shutting_down, weak=False, dispatch_uid="airflow-worker-draining")
    signals.worker_shutdown.connect(_on_shutdown, weak=False, dispatch_uid="airflow-worker-shutdown")
