"""ECS cluster (Fargate + Spot, Container Insights, ECS Exec) and the ECR repository."""

from __future__ import annotations

import re

import pytest
from aws_cdk.assertions import Match

from tests.infrastructure.templates import DEPLOYMENTS, container, resources

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "worker", "standalone")


@pytest.mark.parametrize(
    ("deployment", "insights"), [("dev", "disabled"), ("prod", "disabled"), ("prod-narrow", "enabled")]
)
def test_cluster_has_fargate_and_spot_insights_as_set_and_exec_logging(templates, deployment, insights):
    template = templates[deployment]
    template.has_resource_properties(
        "AWS::ECS::ClusterCapacityProviderAssociations",
        {"CapacityProviders": Match.array_with(["FARGATE", "FARGATE_SPOT"])},
    )
    template.has_resource_properties(
        "AWS::ECS::Cluster",
        {
            "ClusterName": DEPLOYMENTS[deployment].name,
            "ClusterSettings": [{"Name": "containerInsights", "Value": insights}],
            "Configuration": {"ExecuteCommandConfiguration": {"Logging": "OVERRIDE"}},
        },
    )


@pytest.mark.parametrize(("deployment", "count"), [("dev", 2), ("prod", 5)])
def test_every_service_allows_ecs_exec(raw_templates, deployment, count):
    services = resources(raw_templates[deployment], "AWS::ECS::Service").values()
    assert len(services) == count
    assert all(s["Properties"]["EnableExecuteCommand"] is True for s in services)


def test_repository_scans_on_push_keeps_tags_immutable_and_expires_images(templates):
    registry = templates["dev-registry"]
    registry.has_resource(
        "AWS::ECR::Repository",
        {
            "Properties": {
                "RepositoryName": "airflow-dev/airflow",
                "ImageScanningConfiguration": {"ScanOnPush": True},
                "ImageTagMutability": "IMMUTABLE",
                "LifecyclePolicy": {"LifecyclePolicyText": Match.string_like_regexp('"tagStatus":"untagged"')},
            },
            "DeletionPolicy": "Retain",
        },
    )
    registry.has_resource_properties(
        "AWS::ECR::Repository",
        {"LifecyclePolicy": {"LifecyclePolicyText": Match.string_like_regexp('"countNumber":30')}},
    )


def test_images_use_the_image_tag_parameter_never_latest(raw_templates):
    template = raw_templates["dev"]
    pattern = template["Parameters"]["ImageTag"]["AllowedPattern"]
    assert re.fullmatch(pattern, "3f9c2a1") and re.fullmatch(pattern, "1.4.0")
    assert not re.fullmatch(pattern, "bad tag") and not re.fullmatch(pattern, "")
    assert template["Rules"]["ImageTagIsNotLatest"]["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ImageTag"}, "latest"]}]
    }
    for component in COMPONENTS:
        image = container(template, component)["Image"]["Fn::Join"][1]
        assert image[-2:] == [":", {"Ref": "ImageTag"}], component
        assert "latest" not in str(image)
