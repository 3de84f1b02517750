"""Bringing a real local stack up for a test module: its own ports (a developer's `make up` stack
may run beside it), its own state folder, the user's shell without the test session's settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from deploy_airflow_on_ecs_fargate import contract
from local_stack.paths import StackPaths
from tests.conftest import REPO_ROOT, free_port

TEST_DAGS = Path(__file__).parent / "dags"


def local_stack(command: str, environment: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return run_module("local_stack", command, environment=environment, timeout=timeout)


def run_module(module: str, *args: str, environment: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """`python -m module args` from the repository, its output captured and printed (pytest shows it on failure)."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    print(result.stdout, result.stderr)
    return result


def clean_environment() -> dict[str, str]:
    """This process's environment without what earlier tests or pytest itself put there: the
    stack must see a user's shell, not a test session's Airflow settings."""
    return {
        name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "PYTEST", "LOCAL_STACK"))
    }


def print_log_tails(paths: StackPaths, lines: int = 40) -> None:
    """On failure, show the components' last lines in the test output (the state is deleted)."""
    for log in sorted(paths.logs.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"\n===== {log.name} (last {len(tail)} lines) =====", *tail, sep="\n", file=sys.__stderr__)
    for log in sorted((paths.airflow_home / "logs").rglob("*.log"))[-3:]:
        print(f"\n===== task log {log}", log.read_text(errors="replace")[-3000:], sep="\n", file=sys.__stderr__)


def new_home(prefix: str) -> Path:
    """Not under pytest's temp root: pytest resets it to 0700, which locks out PostgreSQL's own
    system user when the tests run as root."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    dags = home / "dags"
    dags.mkdir()
    for source in [*(REPO_ROOT / "dags").glob("*.py"), *TEST_DAGS.glob("*.py")]:
        shutil.copy(source, dags)
    return home


def stack_environment(home: Path, settings: dict[str, str]) -> dict[str, str]:
    """Ports of its own, its state under ``home``, the DAG folder given as a standard AIRFLOW__
    variable (the test DAGs can only run if that variable reached every component)."""
    ports = {port.variable: str(free_port()) for port in contract.PORTS}
    ports.update(LOCAL_STACK_POSTGRES_PORT=str(free_port()), LOCAL_STACK_SQS_PORT=str(free_port()))
    return {
        **clean_environment(),
        **settings,
        **ports,
        "LOCAL_STACK_HOME": str(home / "state"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
    }


def processes_of(paths: StackPaths) -> list[psutil.Process]:
    """Every live process started for this stack, whatever its process group or session: they all
    inherit the stack's AIRFLOW_HOME (components, task processes, their shells) or run from its
    state folder (the supervisor, the SQS server)."""
    found = []
    marker = str(paths.airflow_home)
    for process in psutil.process_iter(["cmdline"]):
        try:
            if process.status() == psutil.STATUS_ZOMBIE or process.pid == os.getpid():
                continue
            environment = process.environ()
        except psutil.Error:
            continue
        if environment.get("AIRFLOW_HOME") == marker or environment.get("LOCAL_STACK_HOME") == str(paths.home):
            found.append(process)
    return found
