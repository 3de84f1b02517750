"""A task's start is its first heartbeat: the supervisor does not send another one right after it.

Airflow's task supervisor (in a worker's pool process) tells the execution API that the task
starts (``PATCH /execution/task-instances/{id}/run``). The API server then records the task as
running on this host and pid, with ``last_heartbeat_at`` set to now. On its first look at the task
process the supervisor sends a heartbeat as well (``PUT .../heartbeat``), which sets the same
column again: the supervisor waits ``[workers] min_heartbeat_interval`` after its last heartbeat
*attempt*, and that attempt time starts at 0, not at the start. On the local stack, every
task shorter than the interval made exactly one heartbeat call. That is one execution API request
in six for a tiny mapped task, plus a database update (docs/decisions/0084-fewer-scheduler-loops-and-heartbeats.md).

Here the supervisor counts the start as its first heartbeat attempt. The next heartbeat is due one
interval later, as after any heartbeat. Nothing is lost: the heartbeat only confirms what the start's
answer has just said (this task instance is running on this host and pid), the server's heartbeat
timeout counts from the start's ``last_heartbeat_at``, and every later heartbeat is as in Airflow.

Installed in the worker's main process before its pool forks (Celery's ``worker_init``).
"""

from __future__ import annotations

import functools
import logging

from celery import signals

log = logging.getLogger(__name__)

PATCHED_MARK = "_airflow_ecs_start_is_heartbeat"
# What this was written against (Airflow 3.3.2's airflow/sdk/execution_time/supervisor.py).
HEARTBEAT_FIELDS = {"_last_successful_heartbeat", "_last_heartbeat_attempt"}


def count_start_as_heartbeat() -> bool:
    """Patch Airflow's task supervisor (idempotent). False, and nothing changed, when it is not
    the supervisor this was written against."""
    from airflow.sdk.execution_time.supervisor import ActivitySubprocess

    started = ActivitySubprocess.__dict__.get("_on_child_started")
    if getattr(started, PATCHED_MARK, False):
        return True
    fields = {field.name for field in getattr(ActivitySubprocess, "__attrs_attrs__", ())}
    if started is None or not fields >= HEARTBEAT_FIELDS:
        log.warning("task start heartbeat: Airflow's task supervisor is not as expected; not installed")
        return False

    @functools.wraps(started)
    def on_child_started(self, **kwargs):
        started(self, **kwargs)
        # The start succeeded (it raises otherwise) and set _last_successful_heartbeat to now.
        self._last_heartbeat_attempt = self._last_successful_heartbeat

    setattr(on_child_started, PATCHED_MARK, True)
    ActivitySubprocess._on_child_started = on_child_started  # type: ignore[method-assign]
    return True


def _on_worker_init(**_) -> None:
    count_start_as_heartbeat()


def install() -> None:
    """In any worker this process starts, before its pool forks (idempotent)."""
    signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="airflow-task-start-heartbeat")
