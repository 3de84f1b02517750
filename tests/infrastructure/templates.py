"""What the infrastructure tests synthesize, and helpers to read the templates."""

from __future__ import annotations

import json
import os
import sys
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
# The CDK app's package lives beside its app.py, as `cdk synth` runs it.
if str(INFRASTRUCTURE) not in sys.path:
    sys.path.insert(0, str(INFRASTRUCTURE))

from airflow_ecs.settings import PROFILES  # noqa: E402

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000"
# Two deployments cover both egress modes, both task-log stores, HTTP and HTTPS: the dev profile
# as it is, and the prod profile as an operator would deploy it (with a certificate, a domain
# and a narrow client range; the profile cannot ship those).
DEPLOYMENTS = {
    "dev": PROFILES["dev"],
    "prod": replace(
        PROFILES["prod"],
        certificate_arn=CERTIFICATE,
        domain_name="airflow.example.com",
        allowed_client_cidrs=("203.0.113.0/24", "198.51.100.7/32"),
    ),
}


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
