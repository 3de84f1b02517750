"""`airflow-ecs local ...`: the Docker-free local stack (local_stack/), and any Airflow CLI command
run with the running stack's own configuration.

up, down, status and logs are `python -m local_stack`'s own entry point, so both behave alike.
`run` starts the contract's `airflow` component with the environment the stack saved for its
components (LOCAL_STACK_HOME's run/environment.json): same database, broker, DAG folder, secrets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence

from airflow_ecs_cli.errors import OperatorError, bad_input
from deploy_airflow_on_ecs_fargate import contract
from local_stack import postgres
from local_stack import stack as local_stack
from local_stack.paths import REPO_ROOT, StackPaths
from local_stack.settings import LocalSettings, LocalSettingsError

LIFECYCLE = ("up", "down", "status", "logs")


def lifecycle(command: str, component: str | None = None) -> int:
    """The local stack's own command line (`python -m local_stack <command>`); its exit code."""
    if command not in LIFECYCLE:
        raise bad_input(f"local: {command!r} is not one of {', '.join(LIFECYCLE)}, run")
    return local_stack.main([command, *([component] if component else [])])


def stack_paths(environ: Mapping[str, str] | None = None) -> StackPaths:
    try:
        return StackPaths(LocalSettings.from_environment(environ).home)
    except LocalSettingsError as error:
        raise bad_input(str(error)) from None


def saved_environment(paths: StackPaths, running: Callable[[StackPaths], bool]) -> dict[str, str]:
    if not paths.environment_file.exists():
        raise OperatorError(f"no local stack in {paths.home}: start it with `airflow-ecs local up`")
    if not running(paths):
        raise OperatorError(f"the local stack in {paths.home} is not running: start it with `airflow-ecs local up`")
    return dict(json.loads(paths.environment_file.read_text()))


def database_running(paths: StackPaths) -> bool:
    return postgres.is_running(paths.pgdata)


def airflow_command(arguments: Sequence[str]) -> list[str]:
    if not arguments:
        raise bad_input("no Airflow command: give one after --, e.g. `airflow-ecs local run -- dags list`")
    return [sys.executable, "-m", contract.PACKAGE, contract.component("airflow").name, *arguments]


def run(
    arguments: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    running: Callable[[StackPaths], bool] | None = None,
) -> int:
    """Run `airflow ARGS` against the running local stack; its exit code (128 + n for a signal)."""
    command = airflow_command(arguments)
    environment = saved_environment(stack_paths(environ), running or database_running)
    code = subprocess.call(command, env=environment, cwd=REPO_ROOT)
    return 128 - code if code < 0 else code
