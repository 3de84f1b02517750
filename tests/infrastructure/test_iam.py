"""Least privilege: execution roles read only this deployment's secrets and pull only its image;
task roles touch only their queue, logs and metric namespace."""

from __future__ import annotations

import pytest

from tests.infrastructure.templates import DEPLOYMENTS, dumps, resources

# Actions AWS offers only on "*" (no resource-level permissions).
STAR_ONLY = {
    "ecr:GetAuthorizationToken",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "cloudwatch:PutMetricData",
    "logs:DescribeLogGroups",
}


def _statements(template: dict, role: str) -> list[dict]:
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _roles(template: dict, key: str) -> dict[str, str]:
    return {
        t["Properties"]["Family"]: t["Properties"][key]["Fn::GetAtt"][0]
        for t in resources(template, "AWS::ECS::TaskDefinition").values()
    }


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_execution_roles_read_only_this_deployments_secrets_and_pull_only_its_repository(raw_templates, deployment):
    template = raw_templates[deployment]
    own_secrets = set(resources(template, "AWS::SecretsManager::Secret")) | set(
        resources(template, "AWS::SecretsManager::SecretTargetAttachment")
    )
    for family, role in _roles(template, "ExecutionRoleArn").items():
        for statement in _statements(template, role):
            actions = set(_as_list(statement["Action"]))
            for resource in _as_list(statement["Resource"]):
                if resource == "*":
                    assert actions <= STAR_ONLY, (family, actions)
                elif any(a.startswith("secretsmanager:") for a in actions):
                    assert resource["Ref"] in own_secrets, family
                elif any(a.startswith("ecr:") for a in actions):
                    assert f"{DEPLOYMENTS[deployment].name}-registry:ExportsOutputFnGetAttRegistryRepository" in dumps(
                        resource
                    )


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_task_roles_use_star_only_where_aws_requires_it(raw_templates, deployment):
    template = raw_templates[deployment]
    for family, role in _roles(template, "TaskRoleArn").items():
        for statement in _statements(template, role):
            actions = set(_as_list(statement["Action"]))
            assert statement["Effect"] == "Allow"
            assert all(":" in a and not a.endswith(":*") for a in actions), actions
            if "*" in _as_list(statement["Resource"]):
                assert actions <= STAR_ONLY, (family, actions)
            if "cloudwatch:PutMetricData" in actions:
                # WorkersNeeded from the scheduler's task (its own, or the control-plane task it is a
                # container of); Airflow's metrics from the CloudWatch agent beside the components
                # that send them, to a namespace of their own.
                namespace = statement["Condition"]["StringEquals"]["cloudwatch:namespace"]
                assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": namespace}}
                if namespace == f"Airflow/{DEPLOYMENTS[deployment].name}":
                    assert family.endswith(("-scheduler", "-control-plane"))
                else:
                    assert namespace == f"Airflow/{DEPLOYMENTS[deployment].name}/StatsD"
                    assert family.endswith(("-scheduler", "-dag-processor", "-triggerer", "-worker", "-control-plane"))


def _sqs_actions(template: dict, prefix: str) -> dict[str, set[str]]:
    (queue,) = resources(template, "AWS::SQS::Queue")
    by_family = {}
    for family, role in _roles(template, "TaskRoleArn").items():
        actions = set()
        for statement in _statements(template, role):
            if any(a.startswith("sqs:") for a in _as_list(statement["Action"])):
                assert statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
                actions |= set(_as_list(statement["Action"]))
        by_family[family.removeprefix(prefix)] = actions
    return by_family


def test_only_the_scheduler_sends_and_only_workers_consume(raw_templates):
    by_family = _sqs_actions(raw_templates["prod"], "airflow-prod-")
    assert "sqs:SendMessage" in by_family["scheduler"] and "sqs:ReceiveMessage" not in by_family["scheduler"]
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"} <= by_family["worker"]
    assert "sqs:SendMessage" not in by_family["worker"]
    assert (
        by_family["api-server"]
        == by_family["dag-processor"]
        == by_family["triggerer"]
        == by_family["standalone"]
        == set()
    )


def test_the_control_plane_task_sends_but_never_consumes(raw_templates):
    # dev: the scheduler is a container of the control-plane task, whose one role sends.
    by_family = _sqs_actions(raw_templates["dev"], "airflow-dev-")
    assert set(by_family) == {"control-plane", "worker", "standalone"}
    assert "sqs:SendMessage" in by_family["control-plane"] and "sqs:ReceiveMessage" not in by_family["control-plane"]
    assert "sqs:ReceiveMessage" in by_family["worker"] and by_family["standalone"] == set()
