"""A shell or a command in a running container of a component's service, through ECS Exec.

ECS's ExecuteCommand returns a Session Manager session; AWS's `session-manager-plugin` connects
the terminal to it (what `aws ecs execute-command` does, without needing the AWS CLI). The plugin
is checked before the session is created, so a missing plugin changes nothing remotely.
"""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_ecs_cli.errors import OperatorError
from airflow_ecs_cli.outputs import StackOutputs

PLUGIN = "session-manager-plugin"
PLUGIN_INSTALL = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html"
)
DEFAULT_COMMAND = ("/bin/bash",)


@dataclass(frozen=True)
class RunningContainer:
    cluster: str
    task_arn: str
    container: str
    runtime_id: str

    @property
    def task_id(self) -> str:
        return self.task_arn.rsplit("/", 1)[-1]


def find_plugin(which: Callable[[str], str | None] = shutil.which) -> str:
    found = which(PLUGIN)
    if found is None:
        raise OperatorError(f"{PLUGIN} is not installed (ECS Exec needs it): install it from {PLUGIN_INSTALL}")
    return found


def running_task(ecs: Any, outputs: StackOutputs, component: str) -> dict:
    """A running task of the component's service."""
    cluster, service = outputs.cluster, outputs.service_name(component)
    arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING").get("taskArns", [])
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns[:100]).get("tasks", []) if arns else []
    # A service's tasks are in its group; listing by service name is not honoured by every ECS stand-in.
    tasks = [
        task for task in tasks if task.get("group") == f"service:{service}" and task.get("lastStatus") == "RUNNING"
    ]
    if not tasks:
        raise OperatorError(
            f"no running task of {component} (service {service}): it may be scaled to 0 "
            f"(`airflow-ecs status`; start one with `airflow-ecs scale {component} 1`)"
        )
    return dict(tasks[0])


def exec_target(cluster: str, task: dict, component: str) -> RunningContainer:
    """The component's container in the task, once its ECS Exec agent runs."""
    short = task["taskArn"].rsplit("/", 1)[-1]
    containers = task.get("containers", [])
    container = next((c for c in containers if c.get("name") == component), containers[0] if containers else {})
    agents = {agent.get("name"): agent.get("lastStatus") for agent in container.get("managedAgents", [])}
    if agents.get("ExecuteCommandAgent", "RUNNING") != "RUNNING":
        raise OperatorError(
            f"the ECS Exec agent of task {short} is {agents['ExecuteCommandAgent']}: wait a minute after the task "
            "starts, or check that the task role may use ssmmessages"
        )
    if not container.get("runtimeId"):
        raise OperatorError(f"task {short} reports no container runtime id yet: try again in a moment")
    return RunningContainer(cluster, task["taskArn"], container["name"], container["runtimeId"])


def command_text(command: Sequence[str]) -> str:
    """ECS Exec takes one string: quoted so that each argument arrives as given."""
    return shlex.join(command or DEFAULT_COMMAND)


def plugin_command(
    plugin: str, session: dict, target: RunningContainer, *, region: str, profile: str | None, endpoint_url: str
) -> list[str]:
    """The plugin's command line: session, region, StartSession, profile, target, ECS endpoint."""
    parameters = {"Target": f"ecs:{target.cluster}_{target.task_id}_{target.runtime_id}"}
    return [plugin, json.dumps(session), region, "StartSession", profile or "", json.dumps(parameters), endpoint_url]


def open_session(ecs: Any, target: RunningContainer, command: Sequence[str]) -> dict:
    """ECS's ExecuteCommand: creates the Session Manager session (recorded in the exec log group)."""
    answer = ecs.execute_command(
        cluster=target.cluster,
        task=target.task_arn,
        container=target.container,
        interactive=True,
        command=command_text(command),
    )
    return dict(answer["session"])
