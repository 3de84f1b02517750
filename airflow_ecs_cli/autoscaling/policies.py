"""Scaling policies the simulator compares, each modelled on how AWS evaluates it.

Every policy sees the same thing the metric publisher would count (task instances queued and
running) at the moments it is sampled, and answers with the number of workers the service should
have, or None to leave it. The simulator applies an answer after the policy's action delay.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from deploy_airflow_on_ecs_fargate.worker_demand import HeldMaximum, workers_needed


@dataclass
class DemandStepPolicy:
    """This project's policy (infrastructure/airflow_ecs/worker_scaling.py).

    Every `publish_period` seconds the publisher puts `WorkersNeeded`: ceil((queued + running) /
    concurrency), capped at the maximum, and held at the highest value of the last
    `scale_in_after` seconds, so capacity rises at once and falls only after demand stayed lower
    that long. A high-resolution alarm evaluates it every `alarm_period` seconds and a step
    policy sets the service to exactly that many workers. Busy workers are protected from scale-in
    (ECS task scale-in protection), so only idle workers are ever removed.
    """

    min_workers: int
    max_workers: int
    concurrency: int
    publish_period: int = 10
    alarm_period: int = 10
    # CloudWatch ingestion, the alarm's evaluation and Application Auto Scaling updating the service.
    action_delay: int = 10
    scale_in_after: int = 300
    name: str = "on demand (this project)"
    protects_busy_workers: bool = True
    _held: HeldMaximum | None = None
    _published: int | None = None

    def observe(self, now: int, queued: int, running: int, capacity: int) -> int | None:
        # The publisher's own arithmetic (deploy_airflow_on_ecs_fargate/worker_demand.py).
        if now % self.publish_period == 0:
            self._held = self._held or HeldMaximum(self.scale_in_after)
            self._published = self._held.add(now, workers_needed(queued + running, self.concurrency, self.max_workers))
        if now % self.alarm_period == 0 and self._published is not None:
            return max(self.min_workers, self._published)
        return None


@dataclass
class UpstreamTargetTracking:
    """The upstream example's later policy: a metric of QUEUED + RUNNING task instances divided by
    5 tasks per worker, published every 10 s at standard resolution, with target tracking at 100 %.

    Target tracking's own alarms use one-minute datapoints (the average of that minute's samples):
    it scales out after 3 datapoints above the target and in after 15 below 90 % of it, to
    ceil(needed workers), with cooldowns of 60 s (out) and 300 s (in). Without task protection,
    scale-in stops workers whether or not they run a task.
    """

    min_workers: int
    max_workers: int
    tasks_per_worker: int = 5
    sample_period: int = 10
    action_delay: int = 10
    name: str = "upstream (5 tasks/worker, target tracking)"
    protects_busy_workers: bool = False
    _minute: list[float] = field(default_factory=list)
    _datapoints: deque[float] = field(default_factory=lambda: deque(maxlen=15))
    _last_out: float = -math.inf
    _last_in: float = -math.inf

    def observe(self, now: int, queued: int, running: int, capacity: int) -> int | None:
        if now % self.sample_period == 0:
            self._minute.append((queued + running) / self.tasks_per_worker)
        if now % 60 != 59:
            return None
        self._datapoints.append(sum(self._minute) / len(self._minute))
        self._minute.clear()
        points = list(self._datapoints)
        if len(points) >= 3 and all(p > capacity for p in points[-3:]) and now - self._last_out >= 60:
            self._last_out = now
            return min(self.max_workers, math.ceil(points[-1]))
        low = 0.9 * capacity
        cooled_down = now - self._last_in >= 300 and now - self._last_out >= 300
        if len(points) == 15 and capacity > self.min_workers and all(p < low for p in points) and cooled_down:
            self._last_in = now
            return max(self.min_workers, math.ceil(points[-1]))
        return None


@dataclass
class FixedWorkers:
    """No autoscaling: the same number of workers around the clock (this project before)."""

    count: int
    name: str = ""
    action_delay: int = 0
    protects_busy_workers: bool = True

    def __post_init__(self) -> None:
        self.name = self.name or f"fixed {self.count} worker{'s' if self.count != 1 else ''}"

    def observe(self, now: int, queued: int, running: int, capacity: int) -> int | None:
        return self.count if now == 0 else None
