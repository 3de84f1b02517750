"""A busy scheduler loops at a pace, not back to back.

Airflow's scheduler loop sleeps only when a loop found nothing to do. While tasks keep ending it
starts the next loop at once, and every loop reads every task instance of each running DAG run
again: for a 250-way mapped run, hundreds of loops reading 252 rows each. On the local stack that
was about 60 of the 300 CPU-ms a tiny task costs, and 30 more in PostgreSQL
(docs/decisions/0084-fewer-scheduler-loops-and-heartbeats.md).

Here, before a loop that follows a busy one, the scheduler pauses BUSY_PAUSE_RATIO times as long
as that loop took, at most MAX_BUSY_PAUSE_SECONDS. The pause ends early when PostgreSQL announces
work (scheduler_wakeup.Listener.pause), once MIN_WAKE_INTERVAL has passed: a run whose only task
ends during the pause is noticed as fast as before. Each loop then handles more ended tasks at
once. Nothing Airflow decides changes, only how often it looks; without the listener's
notifications there is no pause at all.

``install()`` wraps ``SchedulerJobRunner._do_scheduling``, the first step of every loop, in the
pacer. Airflow's ``scheduler.scheduler_loop_duration`` metric times the whole loop, so it includes
the pause.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable

from deploy_airflow_on_ecs_fargate.scheduler_wakeup import Listener

log = logging.getLogger(__name__)

# Measured on the local stack, 250-task mapped runs (decision 0084): with a ratio of 3 the
# scheduler spent 36-43 CPU-ms per task instead of 55-77, PostgreSQL 26-29 instead of 29-38, and a
# one-task run still took 0.23-0.32 s. A pause that notifications could not end made the scheduler
# cheaper still (22-25) but a one-task run took 0.33-0.99 s.
BUSY_PAUSE_RATIO = 3.0
# Sending a task to SQS makes a small run's loops long; this bounds what a pause can add.
MAX_BUSY_PAUSE_SECONDS = 0.5
PACED_MARK = "_airflow_ecs_paced"


class BusyLoopPacer:
    """Decides the pause before each loop from how long the previous one took."""

    def __init__(
        self,
        listener: Listener,
        *,
        ratio: float = BUSY_PAUSE_RATIO,
        max_pause: float = MAX_BUSY_PAUSE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._listener = listener
        self._ratio = ratio
        self._max_pause = max_pause
        self._clock = clock
        self._previous_loop_started: float | None = None

    def before_loop(self) -> None:
        now = self._clock()
        previous = self._previous_loop_started
        # The listener's clock is the same monotonic clock; a loop after an idle sleep is not paced.
        if previous is not None and self._listener.last_sleep_ended < previous:
            self._listener.pause(min((now - previous) * self._ratio, self._max_pause))
        self._previous_loop_started = self._clock()


def install(listener: Listener) -> bool:
    """Pace Airflow's scheduler loop with ``listener`` (idempotent). False, and nothing changed,
    when ``_do_scheduling`` is not the method this was written against."""
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    current = SchedulerJobRunner.__dict__.get("_do_scheduling")
    if getattr(current, PACED_MARK, False):
        return True
    if current is None or list(inspect.signature(current).parameters) != ["self", "session"]:
        log.warning("scheduler pacing: Airflow's scheduler loop is not as expected; not installed")
        return False
    pacer = BusyLoopPacer(listener)

    @functools.wraps(current)
    def paced_do_scheduling(self, session):
        pacer.before_loop()
        return current(self, session)

    setattr(paced_do_scheduling, PACED_MARK, True)
    SchedulerJobRunner._do_scheduling = paced_do_scheduling  # type: ignore[method-assign]
    return True
