"""The five long-running components: contract commands, health checks, logs, rollback, placement."""

from __future__ import annotations

import pytest

from deploy_airflow_on_ecs_fargate import contract
from tests.infrastructure.templates import container, resources

SERVICES = contract.LONG_RUNNING_NAMES
ENTRY_POINT = list(contract.ENTRYPOINT)


def service_of(template: dict, component: str) -> dict:
    for service in resources(template, "AWS::ECS::Service").values():
        if service["Properties"]["ServiceName"] == f"airflow-dev-{component}":
            return service["Properties"]
    raise KeyError(component)


@pytest.mark.parametrize("component", SERVICES)
def test_container_runs_the_contract_command_with_its_health_check(raw_templates, component):
    definition = container(raw_templates["dev"], component)
    assert definition["EntryPoint"] + definition["Command"] == [*ENTRY_POINT, component]
    health = definition["HealthCheck"]
    assert health["Command"] == ["CMD", *contract.HEALTH_COMMAND, component]
    assert definition["StopTimeout"] == contract.component(component).stop_timeout_seconds
    assert sorted(mapping["ContainerPort"] for mapping in definition.get("PortMappings", [])) == sorted(
        port.number for port in contract.component(component).ports
    )
    # The health command answers within 5 s; the interval must exceed the timeout.
    assert 5 < health["Timeout"] < health["Interval"]
    assert definition["LinuxParameters"]["InitProcessEnabled"] is True


@pytest.mark.parametrize("component", SERVICES)
def test_each_service_has_its_task_definition_log_group_and_rollback(raw_templates, component):
    template = raw_templates["dev"]
    service = service_of(template, component)
    task = template["Resources"][service["TaskDefinition"]["Ref"]]["Properties"]
    assert task["Family"] == f"airflow-dev-{component}"
    log_group = container(template, component)["LogConfiguration"]["Options"]["awslogs-group"]["Ref"]
    assert template["Resources"][log_group]["Properties"]["RetentionInDays"] == 30
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    (group,) = service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    assert group["Fn::GetAtt"][0].startswith(
        {"api-server": "ApiServerService", "dag-processor": "DagProcessor"}.get(component, component.title())
    )


def test_every_service_has_a_health_check_and_a_distinct_task_definition(raw_templates):
    template = raw_templates["prod"]
    services = resources(template, "AWS::ECS::Service").values()
    task_definitions = {s["Properties"]["TaskDefinition"]["Ref"] for s in services}
    assert len(task_definitions) == len(services) == 5
    for task in task_definitions:
        (definition,) = template["Resources"][task]["Properties"]["ContainerDefinitions"]
        assert definition["HealthCheck"]["Command"][:4] == [
            "CMD",
            "python",
            "-m",
            "deploy_airflow_on_ecs_fargate.health",
        ]


@pytest.mark.parametrize(
    ("deployment", "strategy"),
    [
        ("dev", [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]),
        ("prod", [{"CapacityProvider": "FARGATE_SPOT", "Weight": 3}, {"CapacityProvider": "FARGATE", "Weight": 1}]),
    ],
)
def test_worker_runs_mostly_on_spot_with_a_two_minute_stop_timeout(raw_templates, deployment, strategy):
    template = raw_templates[deployment]
    (worker,) = [
        s["Properties"]
        for s in resources(template, "AWS::ECS::Service").values()
        if s["Properties"]["ServiceName"].endswith("-worker")
    ]
    assert worker["CapacityProviderStrategy"] == strategy
    assert "LaunchType" not in worker  # a launch type together with a strategy fails at deploy time
    assert container(template, "worker")["StopTimeout"] == 120


def test_other_services_run_on_demand(raw_templates):
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        service = service_of(raw_templates["dev"], component)
        assert service["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE", "Weight": 1}]
        assert "LaunchType" not in service


def test_workers_reach_the_api_server_privately_through_cloud_map(raw_templates):
    template = raw_templates["dev"]
    (namespace,) = resources(template, "AWS::ServiceDiscovery::PrivateDnsNamespace").values()
    assert namespace["Properties"]["Name"] == "airflow-dev.internal"
    (discovery,) = resources(template, "AWS::ServiceDiscovery::Service").values()
    assert discovery["Properties"]["Name"] == "api-server"
    assert service_of(template, "api-server")["ServiceRegistries"]
    for component in (*SERVICES, "standalone"):
        environment = {e["Name"]: e["Value"] for e in container(template, component)["Environment"]}
        assert environment["AIRFLOW_API_SERVER_URL"] == "http://api-server.airflow-dev.internal:8080"


def _ingress(template: dict, target_prefix: str, source_prefix: str, port: int) -> bool:
    for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
        props = rule["Properties"]
        if (
            props["GroupId"]["Fn::GetAtt"][0].startswith(target_prefix)
            and props.get("SourceSecurityGroupId", {}).get("Fn::GetAtt", [""])[0].startswith(source_prefix)
            and props["FromPort"] == props["ToPort"] == port
        ):
            return True
    return False


@pytest.mark.parametrize("deployment", ["dev", "prod"])
def test_security_groups_allow_execution_api_and_log_fetching(raw_templates, deployment):
    template = raw_templates[deployment]
    assert _ingress(template, "ApiServerServiceSecurityGroup", "WorkerSecurityGroup", 8080)
    assert _ingress(template, "ApiServerServiceSecurityGroup", "TriggererSecurityGroup", 8080)
    assert _ingress(template, "ApiServerServiceSecurityGroup", "PublicEndpointSecurityGroup", 8080)
    assert _ingress(template, "WorkerSecurityGroup", "ApiServerServiceSecurityGroup", 8793)
    assert _ingress(template, "TriggererSecurityGroup", "ApiServerServiceSecurityGroup", 8794)
    assert not _ingress(template, "WorkerSecurityGroup", "SchedulerSecurityGroup", 8793)
