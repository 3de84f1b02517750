"""The architecture diagram (infrastructure/airflow_ecs/diagram.py): drawn from the synthesized
templates, it shows the parts and their relations, and docs/architecture.md and the README show
what the app synthesizes now (`make docs` rewrites them)."""

from __future__ import annotations

import copy
import importlib.util
import re

import pytest

from airflow_ecs.diagram import mermaid
from tests.conftest import REPO_ROOT
from tests.infrastructure.templates import DEPLOYMENTS


def generator():
    spec = importlib.util.spec_from_file_location("generate_docs", REPO_ROOT / "scripts" / "generate_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def diagrams(raw_templates) -> dict[str, str]:
    return {key: mermaid(raw_templates[key], DEPLOYMENTS[key].name) for key in ("dev", "prod")}


def edges(text: str) -> set[tuple[str, str, str]]:
    return set(re.findall(r"^    (\S+) -->\|\"([^\"]*)\"\| (\S+)$", text, re.MULTILINE))


def test_the_docs_show_the_diagrams_of_the_synthesized_app(raw_templates):
    docs = generator()
    assert docs.diagrammed_deployments()["prod"].name == DEPLOYMENTS["prod"].name
    assert docs.diagrammed_deployments()["dev"] == DEPLOYMENTS["dev"]
    for path, text in docs.architecture_files({"dev": raw_templates["dev"], "prod": raw_templates["prod"]}).items():
        assert path.read_text() == text, f"{path.relative_to(REPO_ROOT)} is stale: run `make docs`"


def test_prod_shows_its_network_services_data_stores_and_what_starts_what(diagrams):
    text = diagrams["prod"]
    for label in (
        'subgraph vpc["VPC 10.0.0.0/16"]',
        '"public subnets: public, 2 zones"',
        '"tasks subnets: private, 2 zones"',
        '"database subnets: isolated, 2 zones"',
        '"NAT gateways x2"',
        '"Application Load Balancer"',
        '"ECS service api-server: 2 x Fargate',
        '"ECS service worker: 0-10 x Fargate and Spot',
        '"one-off ECS task standalone',
        '[("RDS PostgreSQL 18.6<br/>db.t4g.small, Multi-AZ")]',
        '"SQS: celery broker default queue"',
        '[("S3: dag bundle")]',
        '[("S3: task logs")]',
        '"Secrets Manager: 5 secrets"',
        '"EventBridge Scheduler"',
    ):
        assert label in text, label
    found = {(source, label, target) for source, label, target in edges(text)}
    assert ("users", "HTTPS", "PublicEndpointLoadBalancer") in found
    assert ("PublicEndpointLoadBalancer", "Load balancer to target", "ApiServerService") in found
    assert ("subnets_tasks", "PostgreSQL", "MetadataDbInstance") in found  # every task
    assert ("subnets_tasks", "outbound", "nat") in found
    assert ("WorkerService", "execution API", "ApiServerService") in found
    assert ("SchedulerService", "reads, sends", "CeleryBrokerDefaultQueue") in found
    assert ("WorkerService", "reads, receives", "CeleryBrokerDefaultQueue") in found
    readers = {source for source, label, target in found if target == "DagBundleBucket"}
    assert readers == {"DagProcessorService", "WorkerService", "StandaloneTaskTaskDefinition"}
    assert ("scheduler", "db-clean cron(0 3 * * ? *) UTC", "StandaloneTaskTaskDefinition") in found
    assert ("migrations", "init", "StandaloneTaskTaskDefinition") in found


def test_dev_shows_the_http_api_the_shared_task_and_no_nat(diagrams):
    text = diagrams["dev"]
    assert '"ECS service control-plane: 1 x Fargate<br/>api-server, scheduler, dag-processor, triggerer' in text
    assert "NAT" not in text
    found = edges(text)
    assert ("users", "HTTPS", "HttpApi") in found
    assert ("HttpApi", "HTTP API VPC link", "ControlPlaneService") in found
    assert ("subnets_public", "outbound", "internet_gateway") in found
    # Every task in dev's public subnets reads the DAG bucket (the control plane holds the dag-processor).
    assert ("subnets_public", "reads", "DagBundleBucket") in found
    assert ("application_auto_scaling", "scheduled stop and start", "ControlPlaneService") in found


def test_a_change_to_the_app_changes_the_diagram(raw_templates, diagrams):
    template = copy.deepcopy(raw_templates["prod"])
    template["Resources"] = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] != "AWS::Scheduler::Schedule" or "EcsParameters" not in resource["Properties"]["Target"]
    }
    without_cleanup = mermaid(template, DEPLOYMENTS["prod"].name)
    assert without_cleanup != diagrams["prod"]
    assert "db-clean" not in without_cleanup
