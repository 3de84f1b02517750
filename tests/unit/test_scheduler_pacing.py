"""A busy scheduler pauses between loops, in proportion to how long a loop takes; an idle one does not."""

from __future__ import annotations

import inspect

import pytest

from deploy_airflow_on_ecs_fargate import scheduler_pacing
from deploy_airflow_on_ecs_fargate.scheduler_pacing import BusyLoopPacer


class RecordingListener:
    """Stands in for scheduler_wakeup.Listener: records the pauses asked for."""

    def __init__(self):
        self.last_sleep_ended = float("-inf")
        self.pauses: list[float] = []

    def pause(self, seconds: float) -> None:
        self.pauses.append(round(seconds, 6))


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def listener():
    return RecordingListener()


def test_a_loop_right_after_a_busy_one_pauses_ratio_times_its_length(listener, clock):
    pacer = BusyLoopPacer(listener, ratio=3, max_pause=0.5, clock=clock)
    pacer.before_loop()  # the first loop: nothing before it
    clock.now += 0.1  # a busy loop of 0.1 s, no sleep after it
    pacer.before_loop()
    assert listener.pauses == [0.3]


def test_the_pause_is_bounded(listener, clock):
    pacer = BusyLoopPacer(listener, ratio=3, max_pause=0.5, clock=clock)
    pacer.before_loop()
    clock.now += 2.0
    pacer.before_loop()
    assert listener.pauses == [0.5]


def test_a_loop_after_an_idle_sleep_starts_at_once(listener, clock):
    pacer = BusyLoopPacer(listener, ratio=3, max_pause=0.5, clock=clock)
    pacer.before_loop()
    clock.now += 0.05
    listener.last_sleep_ended = clock.now  # Airflow slept: the loop found nothing to do
    clock.now += 1.0
    pacer.before_loop()
    assert listener.pauses == []


@pytest.fixture
def do_scheduling(monkeypatch):
    """A stand-in for Airflow's _do_scheduling, restored after the test."""
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    calls = []

    def _do_scheduling(self, session):
        calls.append(session)
        return 7

    monkeypatch.setattr(SchedulerJobRunner, "_do_scheduling", _do_scheduling)
    return calls


def test_install_paces_every_loop_and_keeps_what_airflow_returns(do_scheduling, listener):
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    assert scheduler_pacing.install(listener)
    assert scheduler_pacing.install(listener)  # idempotent: one pacer
    runner = object.__new__(SchedulerJobRunner)
    assert SchedulerJobRunner._do_scheduling(runner, "session-1") == 7
    assert SchedulerJobRunner._do_scheduling(runner, "session-2") == 7
    assert do_scheduling == ["session-1", "session-2"]
    assert len(listener.pauses) == 1  # the second loop followed a busy one


def test_install_leaves_an_unexpected_scheduler_alone(monkeypatch, listener):
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    def _do_scheduling(self, session, something_new):
        return 0

    monkeypatch.setattr(SchedulerJobRunner, "_do_scheduling", _do_scheduling)
    assert not scheduler_pacing.install(listener)
    assert SchedulerJobRunner._do_scheduling is _do_scheduling


def test_airflows_scheduler_loop_still_starts_each_loop_with_do_scheduling():
    """If an Airflow upgrade starts its loop some other way, the pacing would silently do nothing: say so here."""
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    source = inspect.getsource(SchedulerJobRunner._run_scheduler_loop)
    assert source.count("self._do_scheduling(session)") == 1
    assert source.index("self._do_scheduling(session)") < source.index("executor.heartbeat()")


def test_only_the_listening_scheduler_is_paced(monkeypatch):
    from deploy_airflow_on_ecs_fargate import airflow_cli, scheduler_wakeup, sqs_sending

    paced = []
    monkeypatch.setattr(sqs_sending, "install", lambda: None)
    monkeypatch.setattr(scheduler_pacing, "install", paced.append)
    monkeypatch.setattr(scheduler_wakeup, "install", lambda: None)  # not installed: nothing to pace with
    airflow_cli.install_hooks(["scheduler"])
    assert paced == []
    monkeypatch.setattr(scheduler_wakeup, "install", lambda: "listener")
    airflow_cli.install_hooks(["celery", "worker"])
    airflow_cli.install_hooks(["scheduler"])
    assert paced == ["listener"]
