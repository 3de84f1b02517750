"""`airflow-ecs local up`, `local run` and `local down` on a real local stack of their own (free
ports, own LOCAL_STACK_HOME), set up with the helpers tests/integration/test_local_stack.py uses."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from local_stack import postgres
from local_stack.paths import StackPaths
from tests.integration.stack_helpers import new_home, print_log_tails, run_module, stack_environment

pytestmark = pytest.mark.integration


def airflow_ecs(*args: str, environment: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return run_module("airflow_ecs_cli", *args, environment=environment, timeout=timeout)


@pytest.fixture(scope="module")
def stack():
    home = new_home("cli-local-test-")
    environment = stack_environment(home, {"LOCAL_STACK_WORKER_STOP_TIMEOUT": "60"})
    paths = StackPaths(home / "state")
    try:
        started = airflow_ecs("local", "up", environment=environment)
        if started.returncode != 0:
            print_log_tails(paths)
        assert started.returncode == 0, started.stderr
        yield environment
    finally:
        stopped = airflow_ecs("local", "down", environment=environment)
        assert stopped.returncode == 0, stopped.stderr
        assert not postgres.is_running(paths.pgdata)
        shutil.rmtree(home, ignore_errors=True)


def test_run_lists_the_dags_of_the_running_stack(stack):
    result = airflow_ecs("local", "run", "--", "dags", "list", "--output", "json", environment=stack)
    assert result.returncode == 0, result.stderr
    listed = result.stdout[result.stdout.index("[") :]
    assert '"dag_id": "example_bash_operator"' in listed


def test_run_exits_with_the_commands_own_failure(stack):
    result = airflow_ecs("local", "run", "--", "dags", "trigger", "no_such_dag", environment=stack)
    assert result.returncode != 0
    assert "no_such_dag" in result.stdout + result.stderr
