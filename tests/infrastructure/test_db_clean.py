"""The scheduled database cleanup: EventBridge Scheduler runs the standalone task definition with
the runtime's `db-clean` command, at the settings' time and days, with a role that may run only
that task definition and pass only its two roles; the retention reaches the task definition."""

from __future__ import annotations

import json

import pytest

from deploy_airflow_on_ecs_fargate import contract
from tests.infrastructure.templates import DEPLOYMENTS, container, resources, task_definition_of

WITH_CLEANUP = [key for key, settings in DEPLOYMENTS.items() if settings.db_clean is not None]


def ecs_schedules(template: dict) -> list[dict]:
    """The schedules that start an ECS task (others may pause alarms at night, say)."""
    return [
        schedule["Properties"]
        for schedule in resources(template, "AWS::Scheduler::Schedule").values()
        if "EcsParameters" in schedule["Properties"]["Target"]
    ]


def the_schedule(template: dict) -> dict:
    (schedule,) = ecs_schedules(template)
    return schedule


def standalone_task_definition_id(template: dict) -> str:
    (found,) = [
        logical_id
        for logical_id, task in resources(template, "AWS::ECS::TaskDefinition").items()
        if any(d["Name"] == "standalone" for d in task["Properties"]["ContainerDefinitions"])
    ]
    return found


def test_both_profiles_clean_daily_at_three_utc_keeping_90_days(raw_templates):
    for deployment in ("dev", "prod"):
        schedule = the_schedule(raw_templates[deployment])
        assert schedule["ScheduleExpression"] == "cron(0 3 * * ? *)"
        assert schedule["ScheduleExpressionTimezone"] == "UTC"
        assert schedule["State"] == "ENABLED" and schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
        environment = {e["Name"]: e["Value"] for e in container(raw_templates[deployment], "standalone")["Environment"]}
        assert environment[contract.DB_CLEAN_RETENTION_DAYS.name] == "90"


def test_time_zone_days_and_retention_come_from_the_settings(raw_templates):
    template = raw_templates["prod-narrow"]
    schedule = the_schedule(template)
    assert schedule["ScheduleExpression"] == "cron(30 2 ? * SUN *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert schedule["Description"] == "airflow db clean: rows older than 30 days"
    environment = {e["Name"]: e["Value"] for e in container(template, "standalone")["Environment"]}
    assert environment[contract.DB_CLEAN_RETENTION_DAYS.name] == "30"


@pytest.mark.parametrize("deployment", WITH_CLEANUP)
def test_it_runs_db_clean_on_the_standalone_task_definition_in_the_task_subnets(raw_templates, deployment):
    template = raw_templates[deployment]
    target = the_schedule(template)["Target"]
    task_definition = standalone_task_definition_id(template)
    (cluster,) = resources(template, "AWS::ECS::Cluster")
    assert target["Arn"] == {"Fn::GetAtt": [cluster, "Arn"]}
    ecs = target["EcsParameters"]
    assert ecs["TaskDefinitionArn"] == {"Ref": task_definition}
    assert ecs["LaunchType"] == "FARGATE"
    assert json.loads(target["Input"]) == {"containerOverrides": [{"name": "standalone", "command": ["db-clean"]}]}
    assert "db-clean" in contract.COMPONENT_NAMES
    # Where operators' one-off tasks run (the stack's TaskSubnets and AssignPublicIp outputs).
    network = ecs["NetworkConfiguration"]["AwsvpcConfiguration"]
    subnets = template["Outputs"]["TaskSubnets"]["Value"]["Fn::Join"][1]
    assert network["Subnets"] == subnets
    assert network["AssignPublicIp"] == template["Outputs"]["AssignPublicIp"]["Value"]
    assert network["SecurityGroups"] == [template["Outputs"]["StandaloneSecurityGroup"]["Value"]]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1


@pytest.mark.parametrize("deployment", WITH_CLEANUP)
def test_the_role_may_only_run_that_task_definition_and_pass_its_roles(raw_templates, deployment):
    template = raw_templates[deployment]
    role_id = the_schedule(template)["Target"]["RoleArn"]["Fn::GetAtt"][0]
    role = template["Resources"][role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": DEPLOYMENTS[deployment].account}}
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    statements = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    task = task_definition_of(template, "standalone")
    by_action = {statement["Action"]: statement for statement in statements}
    assert set(by_action) == {"ecs:RunTask", "iam:PassRole"}
    assert by_action["ecs:RunTask"]["Resource"] == {"Ref": standalone_task_definition_id(template)}
    assert sorted(r["Fn::GetAtt"][0] for r in by_action["iam:PassRole"]["Resource"]) == sorted(
        [task["ExecutionRoleArn"]["Fn::GetAtt"][0], task["TaskRoleArn"]["Fn::GetAtt"][0]]
    )
    assert by_action["iam:PassRole"]["Condition"] == {"StringLike": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_no_schedule_without_the_setting(raw_templates):
    template = raw_templates["dev-plain-http"]
    assert DEPLOYMENTS["dev-plain-http"].db_clean is None
    assert ecs_schedules(template) == []
    environment = {e["Name"]: e["Value"] for e in container(template, "standalone")["Environment"]}
    assert contract.DB_CLEAN_RETENTION_DAYS.name not in environment
