"""Migrations on every deploy: the custom resource runs `init` before any service rolls.

The handler is exercised offline: botocore's Stubber validates its ECS calls against the API
model; failure paths use a minimal fake client.
"""

from __future__ import annotations

import importlib.util

import boto3
import pytest
from botocore.stub import Stubber

from tests.infrastructure.templates import INFRASTRUCTURE, container, resources

HANDLER = INFRASTRUCTURE / "airflow_ecs" / "migrations_handler" / "index.py"


@pytest.fixture(scope="module")
def handler():
    spec = importlib.util.spec_from_file_location("migrations_handler", HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("deployment", ["dev", "prod"])
def test_migration_runs_the_standalone_task_with_init_before_every_service(raw_templates, deployment):
    template = raw_templates[deployment]
    ((run_id, run),) = resources(template, "Custom::AirflowMigrations").items()
    props = run["Properties"]
    standalone = [
        n
        for n, t in resources(template, "AWS::ECS::TaskDefinition").items()
        if t["Properties"]["Family"].endswith("-standalone")
    ]
    assert props["TaskDefinition"] == {"Ref": standalone[0]}
    assert props["ContainerName"] == "standalone" and props["Command"] == ["init"]
    assert props["SecurityGroups"][0]["Fn::GetAtt"][0].startswith("StandaloneTaskSecurityGroup")
    assert props["AssignPublicIp"] == ("ENABLED" if deployment == "dev" else "DISABLED")
    for name, service in resources(template, "AWS::ECS::Service").items():
        assert run_id in service["DependsOn"], name
    depends = set(run["DependsOn"])
    db = next(iter(resources(template, "AWS::RDS::DBInstance")))
    association = next(iter(resources(template, "AWS::ECS::ClusterCapacityProviderAssociations")))
    assert {db, association} <= depends
    assert any(template["Resources"][d]["Type"] == "AWS::EC2::Route" for d in depends)


def test_the_standalone_container_has_admin_settings_and_no_health_check(raw_templates):
    definition = container(raw_templates["dev"], "standalone")
    environment = {e["Name"]: e["Value"] for e in definition["Environment"]}
    assert environment["AIRFLOW_ADMIN_USERNAME"] == "admin"
    assert "HealthCheck" not in definition


def test_handler_runs_on_a_current_runtime_with_a_long_poll(raw_templates):
    template = raw_templates["dev"]
    functions = [
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler", "").startswith("index.")
    ]
    assert {f["Handler"] for f in functions} == {"index.on_event", "index.is_complete"}
    assert all(f["Runtime"] == "python3.14" for f in functions)


def _event(request_type: str, revision: int, old_revision: int | None = None, **extra) -> dict:
    props = {
        "Cluster": "airflow-dev",
        "TaskDefinition": f"arn:aws:ecs:us-east-1:123456789012:task-definition/airflow-dev-standalone:{revision}",
        "ContainerName": "standalone",
        "Command": ["init"],
        "Subnets": ["subnet-1"],
        "SecurityGroups": ["sg-1"],
        "AssignPublicIp": "ENABLED",
        "LogGroup": "standalone-logs",
    }
    event = {"RequestType": request_type, "ResourceProperties": props, **extra}
    if old_revision is not None:
        event["OldResourceProperties"] = {
            **props,
            "TaskDefinition": props["TaskDefinition"].rsplit(":", 1)[0] + f":{old_revision}",
        }
    return event


def test_handler_runs_init_and_completes_on_exit_code_zero(handler, monkeypatch):
    # botocore's Stubber checks every request against the real ECS API model, offline.
    client = boto3.client("ecs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    event = _event("Create", 7)
    task_arn = "arn:aws:ecs:us-east-1:123456789012:task/airflow-dev/0123456789abcdef"
    stub.add_response(
        "run_task",
        {"tasks": [{"taskArn": task_arn}], "failures": []},
        {
            "cluster": "airflow-dev",
            "taskDefinition": event["ResourceProperties"]["TaskDefinition"],
            "count": 1,
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
            "networkConfiguration": {
                "awsvpcConfiguration": {
                    "subnets": ["subnet-1"],
                    "securityGroups": ["sg-1"],
                    "assignPublicIp": "ENABLED",
                }
            },
            "overrides": {"containerOverrides": [{"name": "standalone", "command": ["init"]}]},
            "startedBy": "cloudformation-migrations",
        },
    )
    for status, exit_code in (("PROVISIONING", None), ("RUNNING", None), ("STOPPED", 0)):
        container = {"name": "standalone", **({"exitCode": exit_code} if exit_code is not None else {})}
        stub.add_response(
            "describe_tasks",
            {"tasks": [{"taskArn": task_arn, "lastStatus": status, "containers": [container]}]},
            {"cluster": "airflow-dev", "tasks": [task_arn]},
        )
    monkeypatch.setattr(handler, "_ecs", lambda: client)
    with stub:
        started = handler.on_event(event)
        assert started == {"PhysicalResourceId": "airflow-dev/migrations", "Data": {"TaskArn": task_arn}}
        polled = [handler.is_complete({**event, **started}) for _ in range(3)]
    assert polled == [{"IsComplete": False}, {"IsComplete": False}, {"IsComplete": True, "Data": {"TaskArn": task_arn}}]
    stub.assert_no_pending_responses()


class _StoppedTask:
    def __init__(self, exit_code):
        self.exit_code = exit_code
        self.run_task_calls = 0

    def describe_tasks(self, **_):
        return {
            "tasks": [
                {
                    "lastStatus": "STOPPED",
                    "stoppedReason": "Essential container exited",
                    "containers": [{"name": "standalone", "exitCode": self.exit_code}],
                }
            ]
        }

    def run_task(self, **_):
        self.run_task_calls += 1
        return {"tasks": [{"taskArn": "arn:task/1"}], "failures": []}


def test_a_failed_migration_fails_the_deploy_with_its_exit_code_and_log_group(handler, monkeypatch):
    monkeypatch.setattr(handler, "_ecs", lambda: _StoppedTask(exit_code=3))
    with pytest.raises(RuntimeError, match="exit code 3, Essential container exited; see log group standalone-logs"):
        handler.is_complete({**_event("Update", 5, 4), "Data": {"TaskArn": "arn:task/1"}})


def test_a_rollback_to_an_older_revision_does_not_run_the_old_image(handler, monkeypatch):
    client = _StoppedTask(exit_code=0)
    monkeypatch.setattr(handler, "_ecs", lambda: client)
    assert handler.is_rollback(_event("Update", 4, old_revision=5))
    result = handler.on_event({**_event("Update", 4, old_revision=5), "PhysicalResourceId": "airflow-dev/migrations"})
    assert result["Data"] == {"TaskArn": ""} and client.run_task_calls == 0
    assert handler.is_complete({**_event("Update", 4, 5), **result}) == {"IsComplete": True}
    # A forward update and a delete: run, respectively nothing.
    handler.on_event({**_event("Update", 6, old_revision=5), "PhysicalResourceId": "airflow-dev/migrations"})
    handler.on_event({**_event("Delete", 6), "PhysicalResourceId": "airflow-dev/migrations"})
    assert client.run_task_calls == 1
