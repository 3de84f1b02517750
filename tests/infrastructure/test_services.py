"""The five long-running components: contract commands, health checks, logs, rollback, placement.

prod runs each in a service of its own; dev runs the four control-plane components as containers
of one task (settings.control_plane_task) beside the workers' service."""

from __future__ import annotations

import pytest

from deploy_airflow_on_ecs_fargate import contract
from tests.infrastructure.templates import DEPLOYMENTS, airflow_containers, container, resources, task_definition_of

SERVICES = contract.LONG_RUNNING_NAMES
# Those with a service (or a control-plane container) of their own; the others run beside one.
SIZED = tuple(c.name for c in contract.LONG_RUNNING if not c.runs_beside)
CONTROL_PLANE = ("api-server", "scheduler", "dag-processor", "triggerer")
ENTRY_POINT = list(contract.ENTRYPOINT)


def service_of(template: dict, name: str, deployment: str = "dev") -> dict:
    for service in resources(template, "AWS::ECS::Service").values():
        if service["Properties"]["ServiceName"] == f"{DEPLOYMENTS[deployment].name}-{name}":
            return service["Properties"]
    raise KeyError(name)


@pytest.mark.parametrize("deployment", ["dev", "prod"])
@pytest.mark.parametrize("component", SERVICES)
def test_container_runs_the_contract_command_with_its_health_check(raw_templates, component, deployment):
    definition = container(raw_templates[deployment], component)
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
    assert definition["Essential"] is True


@pytest.mark.parametrize("component", SIZED)
def test_each_prod_service_has_its_task_definition_log_group_and_rollback(raw_templates, component):
    template = raw_templates["prod"]
    service = service_of(template, component, "prod")
    task = template["Resources"][service["TaskDefinition"]["Ref"]]["Properties"]
    assert task["Family"] == f"airflow-prod-{component}"
    assert task["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    log_group = container(template, component)["LogConfiguration"]["Options"]["awslogs-group"]["Ref"]
    assert template["Resources"][log_group]["Properties"]["RetentionInDays"] == 90
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    (group,) = service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]
    assert group["Fn::GetAtt"][0].startswith(
        {"api-server": "ApiServerService", "dag-processor": "DagProcessor"}.get(component, component.title())
    )


def test_dev_runs_the_control_plane_as_one_task_of_four_containers(raw_templates):
    template = raw_templates["dev"]
    service = service_of(template, "control-plane")
    task = template["Resources"][service["TaskDefinition"]["Ref"]]["Properties"]
    assert task["Family"] == "airflow-dev-control-plane"
    assert (task["Cpu"], task["Memory"], task["RuntimePlatform"]["CpuArchitecture"]) == ("512", "2048", "ARM64")
    assert service["DesiredCount"] == 1
    definitions = airflow_containers(task)
    # The four, and what runs beside one of them (the worker-demand publisher, beside the scheduler).
    beside = [c.name for c in contract.LONG_RUNNING if c.runs_beside in CONTROL_PLANE]
    assert [d["Name"] for d in definitions] == [*CONTROL_PLANE, *beside]
    log_groups = {d["LogConfiguration"]["Options"]["awslogs-group"]["Ref"] for d in definitions}
    assert len(log_groups) == len(definitions)  # `airflow-ecs logs scheduler` reads the scheduler's alone
    for definition in definitions:
        # Each is essential (one that exits replaces the task) and none reserves memory of its
        # own: they share the task's.
        assert definition["Essential"] is True
        assert "Memory" not in definition and "MemoryReservation" not in definition
        assert definition["HealthCheck"]["Command"][-1] == definition["Name"]
    # Only the workers' service is left beside it.
    assert sorted(s["Properties"]["ServiceName"] for s in resources(template, "AWS::ECS::Service").values()) == [
        "airflow-dev-control-plane",
        "airflow-dev-worker",
    ]


def test_every_service_has_a_health_check_and_a_distinct_task_definition(raw_templates):
    template = raw_templates["prod"]
    services = resources(template, "AWS::ECS::Service").values()
    task_definitions = {s["Properties"]["TaskDefinition"]["Ref"] for s in services}
    assert len(task_definitions) == len(services) == len(SIZED)
    for task in task_definitions:
        for definition in airflow_containers(template["Resources"][task]["Properties"]):
            assert definition["HealthCheck"]["Command"] == ["CMD", *contract.HEALTH_COMMAND, definition["Name"]]


@pytest.mark.parametrize("component", [c for c in contract.LONG_RUNNING if c.runs_beside])
def test_a_component_that_runs_beside_another_is_a_container_of_its_task(raw_templates, component):
    for deployment in ("dev", "prod"):
        template = raw_templates[deployment]
        task = task_definition_of(template, component.runs_beside)
        assert component.name in [d["Name"] for d in task["ContainerDefinitions"]], deployment
        assert task is task_definition_of(template, component.name)


@pytest.mark.parametrize(
    ("deployment", "strategy"),
    [
        ("dev", [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]),
        (
            "prod",
            [
                {"CapacityProvider": "FARGATE_SPOT", "Weight": 3},
                # The first worker runs on demand (worker_on_demand_base), the rest 3:1 on Spot.
                {"CapacityProvider": "FARGATE", "Weight": 1, "Base": 1},
            ],
        ),
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


@pytest.mark.parametrize(("deployment", "services"), [("dev", ["control-plane"]), ("prod", list(CONTROL_PLANE))])
def test_other_services_run_on_demand(raw_templates, deployment, services):
    for name in services:
        service = service_of(raw_templates[deployment], name, deployment)
        assert service["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE", "Weight": 1}]
        assert "LaunchType" not in service


@pytest.mark.parametrize(
    ("deployment", "service", "records"),
    [
        # The HTTP API's private integration needs the port, which only an SRV record carries.
        ("dev", "control-plane", ["A", "SRV"]),
        ("prod", "api-server", ["A"]),
    ],
)
def test_workers_reach_the_api_server_privately_through_cloud_map(raw_templates, deployment, service, records):
    template = raw_templates[deployment]
    name = DEPLOYMENTS[deployment].name
    (namespace,) = resources(template, "AWS::ServiceDiscovery::PrivateDnsNamespace").values()
    assert namespace["Properties"]["Name"] == f"{name}.internal"
    (discovery,) = resources(template, "AWS::ServiceDiscovery::Service").values()
    assert discovery["Properties"]["Name"] == "api-server"
    assert [r["Type"] for r in discovery["Properties"]["DnsConfig"]["DnsRecords"]] == records
    (registry,) = service_of(template, service, deployment)["ServiceRegistries"]
    if "SRV" in records:
        assert (registry["ContainerName"], registry["ContainerPort"]) == ("api-server", 8080)
    for component in (*SERVICES, "standalone"):
        environment = {e["Name"]: e["Value"] for e in container(template, component)["Environment"]}
        assert environment["AIRFLOW_API_SERVER_URL"] == f"http://api-server.{name}.internal:8080"


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


def test_security_groups_allow_execution_api_and_log_fetching(raw_templates):
    template = raw_templates["prod"]
    assert _ingress(template, "ApiServerServiceSecurityGroup", "WorkerSecurityGroup", 8080)
    assert _ingress(template, "ApiServerServiceSecurityGroup", "TriggererSecurityGroup", 8080)
    assert _ingress(template, "ApiServerServiceSecurityGroup", "PublicEndpointSecurityGroup", 8080)
    assert _ingress(template, "WorkerSecurityGroup", "ApiServerServiceSecurityGroup", 8793)
    assert _ingress(template, "TriggererSecurityGroup", "ApiServerServiceSecurityGroup", 8794)
    assert not _ingress(template, "WorkerSecurityGroup", "SchedulerSecurityGroup", 8793)


def test_the_control_plane_task_opens_only_what_other_tasks_need(raw_templates):
    template = raw_templates["dev"]
    assert _ingress(template, "ControlPlaneSecurityGroup", "WorkerSecurityGroup", 8080)
    assert _ingress(template, "ControlPlaneSecurityGroup", "StandaloneTaskSecurityGroup", 8080)
    assert _ingress(template, "ControlPlaneSecurityGroup", "HttpApiVpcLinkSecurityGroup", 8080)
    assert _ingress(template, "WorkerSecurityGroup", "ControlPlaneSecurityGroup", 8793)
    # Its api-server reads its triggerer's logs inside the task: no rule to itself.
    assert not _ingress(template, "ControlPlaneSecurityGroup", "ControlPlaneSecurityGroup", 8794)


def test_a_component_given_a_size_leaves_the_control_plane_task():
    from airflow_ecs.settings import load

    settings = load("dev", {"api_server.cpu": "1024", "api_server.memory_mib": "2048"})
    assert settings.shared_components == ("scheduler", "dag-processor", "triggerer")
    assert settings.task_count_of("api-server") == 1 and settings.task_count_of("scheduler") == 1
