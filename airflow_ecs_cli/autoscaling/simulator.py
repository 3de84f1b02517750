"""Replay a trace through a scaling policy, second by second, as ECS and Celery would run it.

The model: tasks queue in arrival order; a worker has `concurrency` slots and takes queued tasks
as soon as it is ready; a new worker is ready `fargate_start` seconds after ECS starts it (drawn
from a range, with a fixed seed, so a run is repeatable); the service's desired count is what the
policy last asked for, applied after the policy's action delay. When the service has more
workers than desired, ECS stops those still starting first, then idle ones; a policy without
task protection also stops busy workers, and their tasks come back to the queue only after
Airflow's task heartbeat timeout (the try failed, a retry is queued), to run again from the start.
Billing runs from a worker's start to its stop, with Fargate's one-minute minimum.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from airflow_ecs_cli.autoscaling.trace import Task

SAMPLE_EVERY = 10  # seconds between the points of the recorded timeline (the plot)
FARGATE_MINIMUM_BILLED = 60


class Policy(Protocol):
    name: str
    action_delay: int
    protects_busy_workers: bool

    def observe(self, now: int, queued: int, running: int, capacity: int) -> int | None: ...


@dataclass(frozen=True)
class Fleet:
    """What the platform does, the same for every policy of a comparison."""

    concurrency: int = 8
    # ECS's own figures for a Fargate task start are 40-60 s for an image of a few hundred MB
    # (pull, ENI attach, container start); this image is 592 MB uncompressed.
    fargate_start: tuple[float, float] = (40.0, 60.0)
    # A worker process ready to poll once its container runs (Airflow and Celery imports).
    worker_boot: float = 10.0
    # Airflow's [scheduler] task_instance_heartbeat_timeout: a task killed with its worker is
    # failed and retried after this.
    task_heartbeat_timeout: float = 300.0
    worker_hour_price: float = 0.0
    seed: int = 7


@dataclass
class _Worker:
    started: float
    ready_at: float
    slots: list[tuple[float, int]] = field(default_factory=list)  # (ends at, task index)
    stopped: float | None = None


@dataclass(frozen=True)
class Result:
    policy: str
    tasks: int
    waits: tuple[float, ...]
    worker_seconds: float
    killed_tasks: int
    finished: float
    timeline: tuple[tuple[int, int, int, int], ...]  # (second, queued, running, workers)
    cost: float

    @property
    def worker_hours(self) -> float:
        return self.worker_seconds / 3600

    def wait_percentile(self, percent: float) -> float:
        ordered = sorted(self.waits)
        if len(ordered) == 1:
            return ordered[0]
        return statistics.quantiles(ordered, n=100, method="inclusive")[int(percent) - 1]


def trace_period(tasks: list[Task]) -> int:
    """Whole days covering the trace's arrivals: every policy is billed over the same window."""
    last = max(task.arrival for task in tasks)
    return max(1, math.ceil(last / 86400)) * 86400


def simulate(tasks: list[Task], policy: Policy, fleet: Fleet, period: int | None = None) -> Result:
    """Run until `period` (default: whole days covering the trace) and until every task is done
    and the service is back at its floor."""
    period = trace_period(tasks) if period is None else period
    rng = random.Random(fleet.seed)
    arrivals = deque(sorted(tasks))
    queue: deque[tuple[int, float]] = deque()  # (task index, duration)
    retries: list[tuple[float, int, float]] = []  # (queued again at, task index, duration)
    arrival_of: list[float] = []
    started_at: dict[int, float] = {}
    workers: list[_Worker] = []
    pending_changes: deque[tuple[float, int]] = deque()
    desired = 0
    killed = 0
    done = 0
    timeline = []
    horizon = period + 86400  # bound: a day after the window
    finished = 0.0
    for now in range(horizon):
        while arrivals and arrivals[0].arrival <= now:
            task = arrivals.popleft()
            arrival_of.append(task.arrival)
            queue.append((len(arrival_of) - 1, task.duration))
        for retry in [r for r in retries if r[0] <= now]:
            retries.remove(retry)
            queue.append((retry[1], retry[2]))
        live = [w for w in workers if w.stopped is None]
        for worker in live:
            for slot in [s for s in worker.slots if s[0] <= now]:
                worker.slots.remove(slot)
                done += 1
                finished = max(finished, slot[0])
        running = sum(len(w.slots) for w in live)

        answer = policy.observe(now, len(queue), running, len(live))
        if answer is not None:
            pending_changes.append((now + policy.action_delay, answer))
        while pending_changes and pending_changes[0][0] <= now:
            desired = pending_changes.popleft()[1]

        # ECS brings the service to its desired count.
        for _ in range(desired - len(live)):
            start = rng.uniform(*fleet.fargate_start) + fleet.worker_boot
            worker = _Worker(started=now, ready_at=now + start)
            workers.append(worker)
            live.append(worker)
        excess = len(live) - desired
        if excess > 0:
            starting = [w for w in live if w.ready_at > now]
            idle = [w for w in live if w.ready_at <= now and not w.slots]
            busy = [] if policy.protects_busy_workers else [w for w in live if w.ready_at <= now and w.slots]
            for worker in (starting + idle + busy)[:excess]:
                worker.stopped = now
                for ends, index in worker.slots:
                    killed += 1
                    duration = ends - started_at[index]
                    retries.append((now + fleet.task_heartbeat_timeout, index, duration))
                worker.slots.clear()
            live = [w for w in live if w.stopped is None]

        # Ready workers poll: each free slot takes the oldest queued task.
        for worker in sorted(live, key=lambda w: len(w.slots)):
            while worker.ready_at <= now and queue and len(worker.slots) < fleet.concurrency:
                index, duration = queue.popleft()
                started_at[index] = now
                worker.slots.append((now + duration, index))

        if now % SAMPLE_EVERY == 0:
            timeline.append((now, len(queue), sum(len(w.slots) for w in live), len(live)))
        settled = done == len(tasks) and not arrivals and desired <= _floor(policy) and len(live) <= desired
        if settled and now >= period:
            break

    for worker in workers:
        if worker.stopped is None:
            worker.stopped = float(now)
    worker_seconds = sum(max(FARGATE_MINIMUM_BILLED, w.stopped - w.started) for w in workers if w.stopped is not None)
    waits = tuple(started_at[index] - arrival_of[index] for index in range(len(arrival_of)))
    return Result(
        policy=policy.name,
        tasks=len(tasks),
        waits=waits,
        worker_seconds=worker_seconds,
        killed_tasks=killed,
        finished=finished,
        timeline=tuple(timeline),
        cost=worker_seconds / 3600 * fleet.worker_hour_price,
    )


def _floor(policy: Policy) -> int:
    """The count a policy settles at when idle (its minimum, or a fixed count)."""
    return int(getattr(policy, "min_workers", getattr(policy, "count", 0)))


def scale_out_delay(
    policy_publish_period: int, alarm_period: int, action_delay: int, fleet: Fleet
) -> tuple[float, float]:
    """(typical, worst) seconds from a first task queued to a worker taking it, from zero workers."""
    start_low, start_high = fleet.fargate_start
    typical = (
        policy_publish_period / 2 + alarm_period / 2 + action_delay + (start_low + start_high) / 2 + fleet.worker_boot
    )
    worst = policy_publish_period + alarm_period + action_delay + start_high + fleet.worker_boot
    return math.ceil(typical), math.ceil(worst)
