"""Migrations on every deploy: the custom resource runs `init` before any service rolls.

The handler is exercised offline: botocore's Stubber validates its ECS calls against the API
model; failure paths use a minimal fake client.
"""

from __future__ import annotations

import importlib.util
import re

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
        "TimeoutSeconds": "1500",
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
    monkeypatch.setattr(handler, "_now", lambda: 1_000_000.0)
    with stub:
        started = handler.on_event(event)
        # The deadline: now plus the property's timeout (the template sets it below the Provider's).
        assert started == {
            "PhysicalResourceId": "airflow-dev/migrations",
            "Data": {"TaskArn": task_arn, "Deadline": str(1_000_000 + 1500)},
        }
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


def test_the_handler_stops_the_task_before_the_provider_gives_up_and_may_stop_it(raw_templates):
    template = raw_templates["dev"]
    ((_, run),) = resources(template, "Custom::AirflowMigrations").items()
    timeout = int(run["Properties"]["TimeoutSeconds"])
    # The Provider's waiter retries is_complete every IntervalSeconds, MaxAttempts times: its total timeout.
    (machine,) = resources(template, "AWS::StepFunctions::StateMachine").values()
    definition = "".join(
        part for part in machine["Properties"]["DefinitionString"]["Fn::Join"][1] if isinstance(part, str)
    )
    interval = int(re.search(r'"IntervalSeconds":(\d+)', definition)[1])
    attempts = int(re.search(r'"MaxAttempts":(\d+)', definition)[1])
    # Stopped with minutes to spare for the stop and the report.
    assert 0 < timeout <= interval * attempts - 5 * 60
    statements = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "ecs:StopTask" in statement["Action"]
    ]
    (statement,) = statements
    assert set(statement["Action"]) == {"ecs:DescribeTasks", "ecs:StopTask"}
    assert ":task/" in str(statement["Resource"]) and "*" not in str(statement["Resource"]).split(":task/")[0]


def test_run_task_may_retry_for_minutes_and_polls_stay_short(raw_templates):
    functions = {
        f["Properties"]["Handler"]: f["Properties"]
        for f in resources(raw_templates["dev"], "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler", "").startswith("index.")
    }
    assert functions["index.on_event"]["Timeout"] == 300
    assert functions["index.is_complete"]["Timeout"] == 60


class _Ecs:
    """An ECS client whose RunTask answers come from a script, and that records what it is asked."""

    def __init__(self, run_answers=(), tasks=()):
        self.run_answers = list(run_answers)
        self.tasks = list(tasks)
        self.run_calls: list[dict] = []
        self.stopped: list[dict] = []

    def run_task(self, **request):
        self.run_calls.append(request)
        return self.run_answers.pop(0)

    def describe_tasks(self, **_):
        return {"tasks": self.tasks}

    def stop_task(self, **request):
        self.stopped.append(request)
        return {"task": {}}


CAPACITY = {
    "failures": [
        {
            "arn": "arn:aws:ecs:us-east-1:123456789012:capacity-provider/FARGATE",
            "reason": "Capacity is unavailable at this time. Please try again later or in a different availability zone",
        }
    ]
}
STARTED = {"tasks": [{"taskArn": "arn:aws:ecs:us-east-1:123456789012:task/airflow-dev/abc"}], "failures": []}


class _Context:
    def __init__(self, milliseconds: float):
        self.milliseconds = milliseconds

    def get_remaining_time_in_millis(self):
        return self.milliseconds


def test_run_task_refused_for_capacity_is_tried_again_with_growing_waits(handler, monkeypatch):
    ecs = _Ecs(run_answers=[CAPACITY, CAPACITY, CAPACITY, STARTED])
    waits: list[float] = []
    monkeypatch.setattr(handler, "_ecs", lambda: ecs)
    monkeypatch.setattr(handler, "_sleep", waits.append)
    result = handler.on_event(_event("Create", 7), _Context(milliseconds=290_000))
    assert result["Data"]["TaskArn"] == STARTED["tasks"][0]["taskArn"]
    assert waits == [5.0, 10.0, 20.0]
    assert len(ecs.run_calls) == 4 and all(call == ecs.run_calls[0] for call in ecs.run_calls)


def test_capacity_retries_end_when_the_lambda_would_run_out_of_time(handler, monkeypatch):
    ecs = _Ecs(run_answers=[CAPACITY] * 10)
    remaining = [40_000.0]

    def sleep(seconds):
        remaining[0] -= seconds * 1000

    monkeypatch.setattr(handler, "_ecs", lambda: ecs)
    monkeypatch.setattr(handler, "_sleep", sleep)
    context = type("Context", (), {"get_remaining_time_in_millis": lambda self: remaining[0]})()
    with pytest.raises(RuntimeError, match=r"after 3 attempt\(s\): Capacity is unavailable"):
        handler.on_event(_event("Create", 7), context)
    # 40 s: waits of 5 and 10 s fit with 15 s to spare, a third of 20 s does not.
    assert len(ecs.run_calls) == 3


def test_a_failure_that_is_not_capacity_fails_at_once(handler, monkeypatch):
    ecs = _Ecs(run_answers=[{"failures": [{"arn": "arn:subnet", "reason": "MISSING"}]}])
    monkeypatch.setattr(handler, "_ecs", lambda: ecs)
    monkeypatch.setattr(handler, "_sleep", lambda seconds: pytest.fail("no retry expected"))
    with pytest.raises(RuntimeError, match=r"after 1 attempt\(s\): MISSING"):
        handler.on_event(_event("Create", 7), _Context(milliseconds=290_000))


RUNNING = {"taskArn": "arn:task/1", "lastStatus": "RUNNING", "containers": [{"name": "standalone"}]}


def test_a_migration_still_running_at_its_deadline_is_stopped_and_fails_the_deploy(handler, monkeypatch):
    ecs = _Ecs(tasks=[RUNNING])
    monkeypatch.setattr(handler, "_ecs", lambda: ecs)
    event = {**_event("Update", 5, 4), "Data": {"TaskArn": "arn:task/1", "Deadline": "1000"}}
    monkeypatch.setattr(handler, "_now", lambda: 999.0)
    assert handler.is_complete(event) == {"IsComplete": False}
    assert ecs.stopped == []
    monkeypatch.setattr(handler, "_now", lambda: 1001.0)
    with pytest.raises(
        RuntimeError, match=r"did not finish in time \(still RUNNING\): stopped it; see log group standalone-logs"
    ):
        handler.is_complete(event)
    assert [(call["cluster"], call["task"]) for call in ecs.stopped] == [("airflow-dev", "arn:task/1")]


def test_a_task_that_stopped_without_an_exit_code_never_ran_and_says_why(handler, monkeypatch):
    # An image that cannot be pulled: ECS stops the task before the container runs; no exit code.
    never_ran = {
        "taskArn": "arn:task/1",
        "lastStatus": "STOPPED",
        "stopCode": "TaskFailedToStart",
        "stoppedReason": "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
        "containers": [{"name": "standalone", "reason": "CannotPullContainerError: ref not found"}],
    }
    monkeypatch.setattr(handler, "_ecs", lambda: _Ecs(tasks=[never_ran]))
    with pytest.raises(RuntimeError) as failure:
        handler.is_complete({**_event("Update", 5, 4), "Data": {"TaskArn": "arn:task/1", "Deadline": "0"}})
    message = str(failure.value)
    assert "never ran its container (TaskFailedToStart)" in message
    assert "pull image manifest has been retried" in message and "ref not found" in message
    assert "exit code None" not in message


def test_the_cli_finds_migration_tasks_by_what_the_handler_starts_them_with(handler):
    from airflow_ecs_cli import deploy

    assert deploy.MIGRATION_STARTED_BY == handler.STARTED_BY
