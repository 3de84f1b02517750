"""How each Airflow component starts: the one place that maps a component name to a command."""

from __future__ import annotations

import sys

from deploy_airflow_on_ecs_fargate.settings import Settings

API_SERVER_PORT = 8080
SCHEDULER_HEALTH_PORT = 8974
WORKER_LOG_SERVER_PORT = 8793
TRIGGERER_LOG_SERVER_PORT = 8794


def airflow_command(*args: str) -> list[str]:
    # The interpreter running us, so the command uses the same environment in a venv or an image.
    return [sys.executable, "-m", "airflow", *args]


def command_for(settings: Settings, extra_args: list[str]) -> list[str]:
    """The Airflow command a long-running component or ``airflow ...`` replaces itself with."""
    match settings.component:
        case "api-server":
            return airflow_command("api-server", "--port", str(API_SERVER_PORT), *extra_args)
        case "scheduler" | "dag-processor" | "triggerer":
            return airflow_command(settings.component, *extra_args)
        case "worker":
            queues = ",".join(settings.broker.queues) if settings.broker else "default"
            return airflow_command("celery", "worker", "--queues", queues, *extra_args)
        case "airflow":
            return airflow_command(*extra_args)
    raise ValueError(f"{settings.component} has no single command")
