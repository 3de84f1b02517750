"""Remote task logs through Airflow's standard settings: CloudWatch (dev) or S3 (prod)."""

from __future__ import annotations

import pytest

from tests.infrastructure.templates import container, dumps, resources, task_definition_of

WRITERS = ("worker", "triggerer", "dag-processor")


def _environment(template: dict, component: str) -> dict:
    return {e["Name"]: e["Value"] for e in container(template, component)["Environment"]}


@pytest.mark.parametrize("component", ["api-server", *WRITERS])
def test_cloudwatch_remote_logging_points_at_the_task_log_group(raw_templates, component):
    template = raw_templates["dev"]
    environment = _environment(template, component)
    assert environment["AIRFLOW__LOGGING__REMOTE_LOGGING"] == "True"
    assert environment["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"] == "aws_default"
    prefix, group = environment["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"]["Fn::Join"][1]
    # Airflow splits the ARN on ':' (region at 3, group name at 6): no ':*' suffix.
    assert prefix == "cloudwatch://arn:aws:logs:us-east-1:123456789012:log-group:"
    assert template["Resources"][group["Ref"]]["Properties"]["RetentionInDays"] == 90


def test_s3_remote_logging_points_at_a_private_bucket_prefix(raw_templates):
    template = raw_templates["prod"]
    folder = _environment(template, "worker")["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"]["Fn::Join"][1]
    assert folder[0] == "s3://" and folder[2] == "/task-logs"
    bucket = template["Resources"][folder[1]["Ref"]]
    assert bucket["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    assert bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 365


def _task_log_actions(template: dict, component: str) -> set[str]:
    """Actions the task role of the component's task has on the task-log group or bucket."""
    role = task_definition_of(template, component)["TaskRoleArn"]["Fn::GetAtt"][0]
    store = next(
        iter(
            {**resources(template, "AWS::Logs::LogGroup"), **resources(template, "AWS::S3::Bucket")}.keys()
            & _task_log_stores(template)
        )
    )
    actions = set()
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if store in dumps(statement["Resource"]):
                    found = statement["Action"]
                    actions |= set([found] if isinstance(found, str) else found)
    return actions


def _task_log_stores(template: dict) -> set[str]:
    return {name for name in template["Resources"] if name.startswith(("TaskLogsLogGroup", "TaskLogsBucket"))}


# Separate services (prod, and dev-allowlist with CloudWatch task logs): each role gets what its
# component needs; dev's control-plane task has one role for its four containers (below).
@pytest.mark.parametrize("deployment", ["dev-allowlist", "prod"])
def test_writers_may_write_and_the_api_server_may_only_read(raw_templates, deployment):
    template = raw_templates[deployment]
    write = {"dev-allowlist": "logs:PutLogEvents", "prod": "s3:PutObject"}[deployment]
    read = {"dev-allowlist": "logs:GetLogEvents", "prod": "s3:GetObject"}[deployment]
    for component in WRITERS:
        assert {write, read} <= _task_log_actions(template, component), component
    api = _task_log_actions(template, "api-server")
    assert read in api and write not in api
    assert _task_log_actions(template, "scheduler") == set()


def test_the_control_plane_task_role_reads_and_writes_task_logs(raw_templates):
    # Its triggerer and dag-processor write, its api-server reads: one role for the one task.
    actions = _task_log_actions(raw_templates["dev"], "api-server")
    assert {"logs:PutLogEvents", "logs:GetLogEvents"} <= actions
    assert actions == _task_log_actions(raw_templates["dev"], "triggerer")
