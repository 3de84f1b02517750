"""A liveness file for Celery workers on SQS.

``celery inspect ping`` needs a reply queue, which SQS with predefined queues cannot have, and a
live process id proves nothing about a wedged worker. Instead, a consumer bootstep touches a file
from the worker's own event loop every few seconds: the file stays fresh only while the consumer
is connected to the broker and its loop is turning. The health check compares its age with a
threshold (``deploy_airflow_on_ecs_fargate.health``).
"""

from __future__ import annotations

from celery import bootsteps, signals

from deploy_airflow_on_ecs_fargate.settings import worker_heartbeat_path

HEARTBEAT_INTERVAL_SECONDS = 5.0


class HeartbeatStep(bootsteps.StartStopStep):
    """Consumer step: started once the broker connection is up, stopped when it is lost."""

    requires = frozenset({"celery.worker.consumer.tasks:Tasks"})

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.path = worker_heartbeat_path()
        self.timer_entry = None

    def start(self, consumer):
        self.beat()
        self.timer_entry = consumer.timer.call_repeatedly(HEARTBEAT_INTERVAL_SECONDS, self.beat)

    def beat(self):
        self.path.touch()

    def stop(self, consumer):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None
        # A stopping or reconnecting consumer is not healthy: say so at once.
        self.path.unlink(missing_ok=True)

    shutdown = stop


def _add_step(sender, instance, **_):
    # celeryd_init fires before the worker builds its blueprints from app.steps.
    steps = instance.app.steps["consumer"]
    if HeartbeatStep not in steps:
        steps.add(HeartbeatStep)


def install() -> None:
    """Register the step for any worker this process starts (idempotent)."""
    signals.celeryd_init.connect(_add_step, weak=False, dispatch_uid="airflow-worker-heartbeat")
