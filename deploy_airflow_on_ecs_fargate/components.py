"""How each component starts: the Airflow command (or the runtime's own module) a component name
stands for (contract.py)."""

from __future__ import annotations

import sys

from deploy_airflow_on_ecs_fargate import contract
from deploy_airflow_on_ecs_fargate.settings import Settings


def airflow_command(*args: str) -> list[str]:
    """`airflow ARGS` through airflow_cli. The interpreter running us, so the command uses the
    same environment in a venv or an image."""
    return [sys.executable, "-m", f"{contract.PACKAGE}.airflow_cli", *args]


def command_for(settings: Settings, extra_args: list[str]) -> list[str]:
    """The command a long-running component or ``airflow ...`` replaces the entrypoint with."""
    if settings.component == "airflow":
        return airflow_command(*extra_args)
    spec = contract.component(settings.component)
    if spec.module:
        return [sys.executable, "-m", spec.module, *extra_args]
    if not spec.airflow_command:
        raise ValueError(f"{settings.component} has no single command")
    arguments = list(spec.airflow_command)
    if settings.component == "worker":
        assert settings.broker is not None  # every long-running component has its broker settings
        arguments += ["--queues", ",".join(settings.broker.queues)]
    return airflow_command(*arguments, *extra_args)
