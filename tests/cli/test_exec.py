"""`airflow-ecs exec`, tested up to the session-manager-plugin command it builds.

The task is found in moto for real. moto implements neither ECS's ExecuteCommand nor a
container's runtime id: the session (`ecs_exec.open_session`) and the runtime id are supplied by
the test, and the plugin is not run (the command line is recorded instead).
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from airflow_ecs_cli import cli as cli_module
from airflow_ecs_cli import ecs_exec
from airflow_ecs_cli.errors import OperatorError
from tests.cli import standin

SESSION = {
    "sessionId": "ecs-execute-command-0a1b2c",
    "streamUrl": "wss://ssmmessages.example/v1/data-channel/x",
    "tokenValue": "t0k3n",
}
RUNTIME_ID = "0123456789abcdef-1234567890"


def start_service_task(clients, deployed, component) -> str:
    answer = clients.ecs.run_task(
        cluster=deployed.cluster,
        taskDefinition=f"{deployed.stack}-{component}",
        group=f"service:{deployed.services[component]}",
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": deployed.subnets, "securityGroups": [deployed.security_group]}
        },
    )
    return answer["tasks"][0]["taskArn"]


@pytest.fixture(autouse=True)
def tasks_stay_running(moto_endpoint, aws_environment):
    """moto moves a task one state on at every describe; a service's task keeps running on ECS."""

    def post(path: str, body: dict) -> None:
        request = urllib.request.Request(
            f"{moto_endpoint}/moto-api/state-manager/{path}", data=json.dumps(body).encode()
        )
        urllib.request.urlopen(request, timeout=10).close()

    post("set-transition", {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000}})
    yield
    post("unset-transition", {"model_name": "ecs::task"})


@pytest.fixture
def plugin_run(monkeypatch):
    """Records what would start the plugin, and the ExecuteCommand request, instead of doing either."""
    recorded: dict = {}
    real_running_task = ecs_exec.running_task

    def running_task(ecs, outputs, component):
        task = real_running_task(ecs, outputs, component)
        for container in task["containers"]:
            container["runtimeId"] = RUNTIME_ID  # moto's containers have none
        return task

    def open_session(ecs, target, command):
        recorded["request"] = {"target": target, "command": ecs_exec.command_text(command)}
        return dict(SESSION)

    def call(argv):
        recorded["argv"] = argv
        return 0

    monkeypatch.setattr(ecs_exec, "find_plugin", lambda which=None: "/usr/local/bin/session-manager-plugin")
    monkeypatch.setattr(ecs_exec, "running_task", running_task)
    monkeypatch.setattr(ecs_exec, "open_session", open_session)
    monkeypatch.setattr(cli_module.subprocess, "call", call)
    return recorded


def test_exec_builds_the_plugin_command_for_a_running_task_of_the_service(
    cli, deployed, clients, plugin_run, moto_endpoint
):
    task_arn = start_service_task(clients, deployed, "scheduler")
    result = cli("exec", "scheduler", "--", "python", "-m", "deploy_airflow_on_ecs_fargate.health", "scheduler")
    assert result.exit_code == 0, result.output
    task_id = task_arn.rsplit("/", 1)[-1]
    assert plugin_run["request"]["target"].task_arn == task_arn
    assert plugin_run["request"]["command"] == "python -m deploy_airflow_on_ecs_fargate.health scheduler"
    assert plugin_run["argv"] == [
        "/usr/local/bin/session-manager-plugin",
        json.dumps(SESSION),
        standin.REGION,
        "StartSession",
        "",
        json.dumps({"Target": f"ecs:{deployed.cluster}_{task_id}_{RUNTIME_ID}"}),
        moto_endpoint,
    ]


def test_exec_without_a_command_opens_a_shell_and_keeps_quoted_arguments(cli, deployed, clients, plugin_run):
    start_service_task(clients, deployed, "worker")
    assert cli("exec", "worker").exit_code == 0
    assert plugin_run["request"]["command"] == "/bin/bash"
    assert cli("exec", "worker", "--", "sh", "-c", 'echo "two words"').exit_code == 0
    assert plugin_run["request"]["command"] == "sh -c 'echo \"two words\"'"


def test_exec_picks_a_task_of_that_service_only(cli, deployed, clients, plugin_run):
    start_service_task(clients, deployed, "worker")
    result = cli("exec", "triggerer")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no running task of triggerer (service {deployed.services['triggerer']})")
    assert "request" not in plugin_run


def test_a_missing_plugin_is_named_before_anything_is_asked_of_aws(cli, deployed, monkeypatch):
    # Without credentials: the plugin check must come first, or this would fail differently.
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("PATH", "/nonexistent")
    result = cli("exec", "scheduler")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: session-manager-plugin is not installed (ECS Exec needs it): install it from {ecs_exec.PLUGIN_INSTALL}\n"
    )


def test_an_unknown_component_is_refused(cli, deployed):
    result = cli("exec", "standalone")
    assert result.exit_code == 2
    assert "unknown component 'standalone'" in result.stderr


def test_a_task_whose_exec_agent_is_not_running_is_reported():
    task = {
        "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/airflow-dev/abc",
        "containers": [
            {
                "name": "worker",
                "runtimeId": RUNTIME_ID,
                "managedAgents": [{"name": "ExecuteCommandAgent", "lastStatus": "PENDING"}],
            }
        ],
    }
    with pytest.raises(OperatorError, match="the ECS Exec agent of task abc is PENDING"):
        ecs_exec.exec_target("airflow-dev", task, "worker")
    task["containers"][0]["managedAgents"][0]["lastStatus"] = "RUNNING"
    assert ecs_exec.exec_target("airflow-dev", task, "worker").runtime_id == RUNTIME_ID
