"""Cost-allocation tags (project, profile) on every resource that can carry tags, in both stacks.

Which resource types take tags comes from the CloudFormation resource schemas cfn-lint ships
(`tagging.taggable` and a `Tags` property), not from a list kept here."""

from __future__ import annotations

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from tests.infrastructure.templates import DEPLOYMENTS


def taggable(resource_type: str) -> bool:
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        return False
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    return bool(schema.get("tagging", {}).get("taggable", True)) and "Tags" in schema.get("properties", {})


def tags_of(resource: dict) -> dict[str, str]:
    tags = resource["Properties"].get("Tags", {})
    # Most types take a list of {Key, Value}; a few (API Gateway v2, SSM) a map.
    return {tag["Key"]: tag["Value"] for tag in tags} if isinstance(tags, list) else dict(tags)


@pytest.mark.parametrize("stack", ["dev", "dev-registry", "prod", "prod-registry"])
def test_every_taggable_resource_carries_the_cost_allocation_tags(raw_templates, stack):
    deployment = DEPLOYMENTS[stack.removesuffix("-registry")]
    expected = {"project": "deploy-airflow-on-ecs-fargate", "profile": stack.split("-")[0]}
    assert deployment.tags == expected
    checked, missing = 0, []
    for name, resource in raw_templates[stack]["Resources"].items():
        if not taggable(resource["Type"]):
            continue
        checked += 1
        if {key: tags_of(resource).get(key) for key in expected} != expected:
            missing.append(f"{name} ({resource['Type']})")
    assert missing == []
    assert checked >= (1 if stack.endswith("registry") else 30)


def test_services_pass_their_tags_on_to_their_tasks(raw_templates):
    for stack in ("dev", "prod"):
        for resource in raw_templates[stack]["Resources"].values():
            if resource["Type"] == "AWS::ECS::Service":
                assert resource["Properties"]["PropagateTags"] == "SERVICE"


def test_the_tag_check_notices_a_resource_without_tags():
    resource = {"Type": "AWS::SQS::Queue", "Properties": {"Tags": [{"Key": "project", "Value": "x"}]}}
    assert taggable("AWS::SQS::Queue") and not taggable("AWS::EC2::Route")
    assert tags_of(resource).get("profile") is None
