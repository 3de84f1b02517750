"""What the infrastructure tests synthesize, and helpers to read the templates."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

# jsii's "Node 20 is end-of-life" banner is noise in test output (Node 20 still runs jsii).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# CDK's bundled CloudFormation validator roughly doubles synth time; cfn-lint checks the same
# templates against AWS's schemas in test_checks.py, and `make synth` keeps the validator on.
# cdk-nag is a separate plugin and runs regardless.
os.environ.setdefault("CDK_VALIDATION", "false")
# Synth must not depend on the developer's AWS profile.
for variable in ("AWS_PROFILE", "CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
    os.environ.pop(variable, None)

INFRASTRUCTURE = Path(__file__).resolve().parents[2] / "infrastructure"

from airflow_ecs.settings import PROFILES  # noqa: E402  (after the environment above)

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000"
# Each shipped profile exactly as shipped, then variants: the other egress mode of each profile,
# and prod as an operator would deploy it (a certificate, a domain and a narrow client range,
# which the profile cannot ship).
DEPLOYMENTS = {
    "dev": PROFILES["dev"],
    "prod": PROFILES["prod"],
    "dev-private": replace(PROFILES["dev"], name="airflow-dev-private", egress="private", nat_gateways=1),
    "prod-public": replace(PROFILES["prod"], name="airflow-prod-public", egress="public", nat_gateways=0),
    "prod-https": replace(
        PROFILES["prod"],
        name="airflow-prod-https",
        certificate_arn=CERTIFICATE,
        domain_name="airflow.example.com",
        allowed_client_cidrs=("203.0.113.0/24", "198.51.100.7/32"),
    ),
}
SHIPPED = ("dev", "prod")


def resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def container(template: dict, family_suffix: str) -> dict:
    """The Airflow container of the task definition whose family ends with `family_suffix`."""
    for task in resources(template, "AWS::ECS::TaskDefinition").values():
        if task["Properties"]["Family"].endswith(f"-{family_suffix}"):
            (definition,) = task["Properties"]["ContainerDefinitions"]
            return definition
    raise KeyError(family_suffix)


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True)
