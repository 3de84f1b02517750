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

from airflow_ecs.metrics_agent import CONTAINER_NAME as METRICS_AGENT  # noqa: E402
from airflow_ecs.settings import PROFILES, Alarms, DbClean  # noqa: E402  (after the environment above)

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000"
NARROW = ("203.0.113.0/24", "198.51.100.7/32")
# Each shipped profile as shipped (prod with the one setting it cannot ship and refuses to synth
# without: its certificate), then variants: the other egress mode of each, prod as an operator
# would narrow it (Container Insights on, its database cleaned weekly in its own time zone), dev
# with a load balancer opted out of HTTPS by name (DAGs baked into the image, no database
# cleanup), and dev's HTTP API with a domain of its own and a client allowlist (its Lambda
# authorizer) and every component in a service of its own on x86.
PROD = replace(PROFILES["prod"], certificate_arn=CERTIFICATE)
DEPLOYMENTS = {
    "dev": PROFILES["dev"],
    "prod": PROD,
    "dev-private": replace(PROFILES["dev"], name="airflow-dev-private", egress="private", nat_gateways=1),
    "prod-public": replace(PROD, name="airflow-prod-public", egress="public", nat_gateways=0),
    "prod-narrow": replace(
        PROD,
        name="airflow-prod-narrow",
        domain_name="airflow.example.com",
        allowed_client_cidrs=NARROW,
        container_insights=True,
        db_clean=DbClean(time_zone="Europe/Berlin", at="02:30", week_days=("SUN",), retention_days=30),
    ),
    "dev-plain-http": replace(
        PROFILES["dev"],
        name="airflow-dev-plain",
        public_endpoint="load-balancer",
        plain_http=True,
        allowed_client_cidrs=NARROW,
        dag_source="image",
        db_clean=None,
        # Airflow's metrics off: no agent, alarms and dashboard on AWS's metrics only.
        metrics=False,
    ),
    "dev-allowlist": replace(
        PROFILES["dev"],
        name="airflow-dev-allowlist",
        certificate_arn=CERTIFICATE,
        domain_name="airflow.example.com",
        allowed_client_cidrs=NARROW,
        cpu_architecture="X86_64",
        control_plane_task=None,
        api_server=PROFILES["prod"].api_server,
        scheduler=PROFILES["prod"].scheduler,
        dag_processor=PROFILES["prod"].dag_processor,
        triggerer=PROFILES["prod"].triggerer,
        # The alarm topic with an e-mail subscription.
        alarms=Alarms(email="ops@example.com"),
    ),
}
SHIPPED = ("dev", "prod")


def resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


def airflow_containers(task_properties: dict) -> list[dict]:
    """A task definition's Airflow containers, without the CloudWatch agent beside them
    (tests/infrastructure/test_observability.py checks the agent)."""
    return [d for d in task_properties["ContainerDefinitions"] if d["Name"] != METRICS_AGENT]


def container(template: dict, name: str) -> dict:
    """The container named `name` (a component, or `standalone`), whichever task definition holds it."""
    found = [
        definition
        for task in resources(template, "AWS::ECS::TaskDefinition").values()
        for definition in task["Properties"]["ContainerDefinitions"]
        if definition["Name"] == name
    ]
    (definition,) = found
    return definition


def task_definition_of(template: dict, container_name: str) -> dict:
    """The properties of the task definition that has a container named `container_name`."""
    for task in resources(template, "AWS::ECS::TaskDefinition").values():
        if any(d["Name"] == container_name for d in task["Properties"]["ContainerDefinitions"]):
            return task["Properties"]
    raise KeyError(container_name)


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True)
