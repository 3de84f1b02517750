"""The autoscaling simulator's arithmetic on traces small enough to work out by hand."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from airflow_ecs_cli.autoscaling import shipped_traces
from airflow_ecs_cli.autoscaling.policies import DemandStepPolicy, FixedWorkers, UpstreamTargetTracking
from airflow_ecs_cli.autoscaling.report import Comparison, plot, table
from airflow_ecs_cli.autoscaling.simulator import Fleet, simulate
from airflow_ecs_cli.autoscaling.trace import SHIPPED_TRACES, Task, TraceError, read_trace

# Fargate start fixed at 50 s and no boot time: every worker is ready 50 s after ECS starts it.
FLEET = Fleet(concurrency=1, fargate_start=(50, 50), worker_boot=0, task_heartbeat_timeout=300, worker_hour_price=3.6)
DAY = 86400


def test_one_task_from_zero_with_this_projects_policy():
    # t=0: the publisher counts 1 queued task, the alarm sees WorkersNeeded=1, the service is
    # updated 10 s later; the worker is ready at 60 and runs the task until 160. The held value
    # drops to 0 once the last sample of 1 (t=150) is 300 s old: at 450, applied at 460.
    policy = DemandStepPolicy(min_workers=0, max_workers=2, concurrency=1)
    result = simulate([Task(0, 100)], policy, FLEET)
    assert result.waits == (60,)
    assert result.worker_seconds == 460 - 10
    assert result.cost == pytest.approx(450 / 3600 * 3.6)
    assert result.killed_tasks == 0


def test_the_upstream_policy_waits_three_one_minute_datapoints_before_scaling_out():
    # Datapoints close at 59, 119 and 179 s; the third above capacity scales out, applied at 189,
    # and the worker is ready at 239.
    result = simulate([Task(0, 100)], UpstreamTargetTracking(min_workers=0, max_workers=2), FLEET)
    assert result.waits == (239,)


def test_fixed_workers_are_billed_for_the_whole_day():
    result = simulate([Task(0, 100), Task(10, 100)], FixedWorkers(1), FLEET)
    assert result.waits == (50, 140)  # the second waits for the single slot (50 + 100 - 10)
    assert result.worker_seconds == DAY


@dataclass
class Scripted:
    """A policy that asks for the given counts at the given seconds."""

    script: dict[int, int]
    protects_busy_workers: bool
    name: str = "scripted"
    action_delay: int = 0
    min_workers: int = 0

    def observe(self, now, queued, running, capacity):
        return self.script.get(now)


def test_scale_in_without_protection_kills_the_task_which_is_retried_after_the_heartbeat_timeout():
    # Ready at 50, killed at 100, queued again at 400, a new worker (asked at 400) ready at 450.
    policy = Scripted({0: 1, 100: 0, 400: 1, 700: 0}, protects_busy_workers=False)
    result = simulate([Task(0, 200)], policy, FLEET)
    assert result.killed_tasks == 1
    assert result.waits == (450,)
    assert result.finished == 650


def test_a_protected_busy_worker_is_stopped_only_once_it_is_idle():
    policy = Scripted({0: 1, 100: 0}, protects_busy_workers=True)
    result = simulate([Task(0, 200)], policy, FLEET)
    assert (result.killed_tasks, result.waits, result.finished) == (0, (50,), 250)
    assert result.worker_seconds == 250  # stopped when its task ended


def test_this_projects_policy_never_exceeds_its_maximum_and_waits_accordingly():
    tasks = [Task(0, 100) for _ in range(4)]
    result = simulate(tasks, DemandStepPolicy(min_workers=0, max_workers=2, concurrency=1), FLEET)
    assert max(point[3] for point in result.timeline) == 2
    assert sorted(result.waits) == [60, 60, 160, 160]


def test_trace_files_are_read_and_bad_lines_named(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("# a comment\narrival_seconds,duration_seconds\n10,5\n0,2.5\n")
    assert read_trace(good) == [Task(0, 2.5), Task(10, 5)]
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival_seconds,duration_seconds\n0,1\nten,5\n")
    with pytest.raises(
        TraceError, match=r"^.*bad.csv:3: expected two numbers \(arrival, duration\), got \['ten', '5'\]$"
    ):
        read_trace(bad)
    (tmp_path / "headless.csv").write_text("0,1\n")
    with pytest.raises(TraceError, match="the first line must be the header arrival_seconds,duration_seconds"):
        read_trace(tmp_path / "headless.csv")
    with pytest.raises(TraceError, match="cannot read trace"):
        read_trace(tmp_path / "missing.csv")


def test_the_shipped_traces_are_what_their_generator_makes():
    for name, tasks in shipped_traces.generate().items():
        assert read_trace(SHIPPED_TRACES / f"{name}.csv") == sorted(tasks), f"regenerate {name}.csv"


def test_table_and_plot(tmp_path):
    results = tuple(simulate([Task(0, 100)], policy, FLEET) for policy in (FixedWorkers(1), DemandStepPolicy(0, 1, 1)))
    comparison = Comparison("one task", results)
    rows = table([comparison]).splitlines()
    assert rows[2] == "| one task | fixed 1 worker | 50 s | 50 s | 50 s | 24.0 | $86.40 | 0 |"
    picture = tmp_path / "plot.png"
    plot(comparison, picture)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
