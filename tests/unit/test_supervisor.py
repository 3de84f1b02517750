"""The local stack's supervisor over stand-in parts (tests/unit/apps/fake_stack.py), in a process
of its own: it becomes a child subreaper, which the test session must not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from local_stack import supervisor
from local_stack.paths import StackPaths
from local_stack.processes import running_pid
from tests.conftest import REPO_ROOT


def parts(paths: StackPaths) -> dict:
    return supervisor.state(paths).get("parts", {})


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.1)
    return result


@pytest.fixture
def fake_stack(tmp_path):
    (tmp_path / "healthy").touch()
    paths = StackPaths(tmp_path)
    with open(tmp_path / "supervisor.out", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.unit.apps.fake_stack", str(tmp_path)],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: set(parts(paths)) == {"crasher", "parent", "sick"}, 30, "the supervisor's first state")
        yield paths, process
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)
    print((tmp_path / "supervisor.out").read_text()[-3000:])


def test_a_part_that_keeps_exiting_is_restarted_with_a_growing_backoff(fake_stack):
    paths, _ = fake_stack
    time.sleep(8)
    crasher = parts(paths)["crasher"]
    assert crasher["last_exit"]["code"] == 3
    # Backoff 1, 2, 4 s: three or four restarts in 8 s (without it, one every 0.7 s or so).
    assert 2 <= crasher["restarts"] <= 4, crasher


def test_what_a_killed_part_left_behind_is_killed_before_it_does_anything(fake_stack):
    paths, _ = fake_stack
    leader = wait_for(lambda: running_pid(paths.pid_file("parent")), 10, "parent running")
    child = wait_for(
        lambda: next((p for p in psutil.Process(leader).children() if p.name() == "sh"), None), 10, "its child"
    )
    assert os.getsid(child.pid) != os.getsid(leader), "the child runs in a session of its own"
    # The part dies as a container would, its whole process group at once; the child is not in it.
    os.killpg(leader, signal.SIGKILL)
    wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, 5, "the orphan killed")
    time.sleep(3.5)
    assert not (paths.home / "side-effect").exists(), "the orphan finished its side effect"
    assert supervisor.state(paths)["orphans_killed"] >= 1
    restarted = wait_for(lambda: running_pid(paths.pid_file("parent")), 10, "parent restarted")
    assert restarted != leader


def test_a_part_unhealthy_three_times_in_a_row_is_replaced(fake_stack):
    paths, _ = fake_stack
    first = wait_for(lambda: running_pid(paths.pid_file("sick")), 10, "sick running")
    wait_for(lambda: parts(paths)["sick"]["healthy"], 10, "sick healthy once")
    (paths.home / "healthy").unlink()
    wait_for(lambda: (parts(paths)["sick"]["last_exit"] or {}).get("why") == "replaced: unhealthy", 15, "replaced")
    assert parts(paths)["sick"]["last_exit"]["code"] == -signal.SIGTERM
    (paths.home / "healthy").touch()
    replacement = wait_for(lambda: running_pid(paths.pid_file("sick")), 10, "its replacement")
    assert replacement != first


def test_sigterm_stops_every_part_and_leaves_nothing(fake_stack):
    paths, process = fake_stack
    leaders = [wait_for(lambda n=name: running_pid(paths.pid_file(n)), 10, name) for name in ("parent", "sick")]
    child = wait_for(
        lambda: next((p for p in psutil.Process(leaders[0]).children() if p.name() == "sh"), None), 10, "its child"
    )
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    for pid in [*leaders, child.pid]:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid
    time.sleep(3.5)
    assert not (paths.home / "side-effect").exists(), "a process of a stopped part finished its side effect"
    assert supervisor.state(paths) == {}
