"""One real local stack for the integration session: tests/integration/test_faults.py and
test_local_stack.py share it (a stack costs about a minute of start and stop on 2 cores).

Its settings follow FAULT_TESTS_PROFILE: `quick` (the default, `make test`) shortens the timeouts
a scenario waits on; `measured` (`make test-faults`) keeps the local stack's own, so the figures
are what a developer gets."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_stack import postgres
from local_stack.paths import StackPaths
from tests.integration.stack_helpers import local_stack, new_home, print_log_tails, processes_of, stack_environment

PROFILE = os.environ.get("FAULT_TESTS_PROFILE", "quick")
if PROFILE not in ("quick", "measured"):
    raise pytest.UsageError(f"FAULT_TESTS_PROFILE={PROFILE!r}: expected quick or measured")

# A short long-poll: a stopped worker's last poll ends in seconds. Task heartbeat timeout short,
# so a killed task is detected in seconds rather than the stack's minute.
QUICK_SETTINGS = {
    "AIRFLOW_SQS_WAIT_TIME_SECONDS": "2",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    "LOCAL_STACK_WORKER_STOP_TIMEOUT": "120",
}
SETTINGS = QUICK_SETTINGS if PROFILE == "quick" else {}
LEDGER_VARIABLE = "AIRFLOW_VAR_FAULT_LEDGER"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The quick profile leaves out the scenarios marked measured_only: pytest reports them as
    deselected, and `make test-faults` runs them."""
    if PROFILE != "quick":
        return
    left_out = [item for item in items if item.get_closest_marker("measured_only")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


class StatsdListener:
    """A UDP StatsD listener on loopback, owned by the session: the stack's components send it the
    metrics the runtime contract keeps (LOCAL_STACK_STATSD_PORT), as they send the CloudWatch agent
    beside them on ECS. Keeps every line it receives."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.5)
        self.port = self.socket.getsockname()[1]
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="statsd-listener", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                packet = self.socket.recv(65535)
            except TimeoutError:
                continue
            with self._lock:
                self.lines += [line for line in packet.decode(errors="replace").splitlines() if line]

    def received(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def received_starting(self, prefix: str) -> list[str]:
        return [line for line in self.received() if line.startswith(prefix)]

    def wait_for(self, prefix: str, timeout: float) -> list[str]:
        """Lines starting with `prefix` (e.g. `airflow.scheduler_heartbeat:`), once there is one."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.received_starting(prefix)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.socket.close()


@pytest.fixture(scope="session")
def statsd_listener():
    listener = StatsdListener()
    yield listener
    listener.close()


@dataclass
class RunningStack:
    home: Path
    paths: StackPaths
    environment: dict[str, str]
    up_output: str

    @property
    def ledger(self) -> Path:
        return Path(self.environment[LEDGER_VARIABLE])


@pytest.fixture(scope="session")
def running_stack(request, statsd_listener):
    home = new_home("local-stack-test-")
    # Metrics on, to the session's listener (off by default locally).
    metrics = {"LOCAL_STACK_STATSD_PORT": str(statsd_listener.port)}
    environment = stack_environment(home, {**SETTINGS, **metrics, LEDGER_VARIABLE: str(home / "ledger")})
    paths = StackPaths(home / "state")
    failures_before = request.session.testsfailed
    try:
        started = local_stack("up", environment)
        assert started.returncode == 0, started.stderr
        yield RunningStack(home, paths, environment, started.stdout)
    finally:
        if request.session.testsfailed > failures_before or not paths.environment_file.exists():
            print_log_tails(paths)
        stopped = local_stack("down", environment)
        assert stopped.returncode == 0, stopped.stderr
        # Nothing the stack started may be left: components, their task processes, the supervisor.
        assert processes_of(paths) == []
        assert not postgres.is_running(paths.pgdata)
        shutil.rmtree(home, ignore_errors=True)
