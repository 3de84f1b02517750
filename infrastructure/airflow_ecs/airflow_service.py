"""Long-running Airflow components as an ECS service (the seed's airflow_<component>.tf).

Usually one component per service; the control-plane task (settings.control_plane_task) runs
several, one container each. Every service has its own task definition and security group, a log
group and health check per container, a deployment circuit breaker that rolls a failed deploy
back, tasks spread and kept balanced across the availability zones, and ECS Exec for
`aws ecs execute-command`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from airflow_ecs.airflow_task import AirflowRuntime, AirflowTaskDefinition, component_container
from airflow_ecs.metrics_agent import MetricsAgent
from airflow_ecs.settings import ComponentSize
from deploy_airflow_on_ecs_fargate.contract import Component

ON_DEMAND = [ecs.CapacityProviderStrategy(capacity_provider="FARGATE", weight=1)]


class AirflowService(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        runtime: AirflowRuntime,
        components: Sequence[Component],
        size: ComponentSize,
        cluster: ecs.ICluster,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        assign_public_ip: bool,
        name: str | None = None,
        extra_environment: Mapping[str, Mapping[str, str]] | None = None,
        capacity_provider_strategies: Sequence[ecs.CapacityProviderStrategy] = ON_DEMAND,
        health_check_grace_period: Duration | None = None,
        metrics_agent: MetricsAgent | None = None,
    ) -> None:
        super().__init__(scope, id)
        settings = runtime.settings
        # One container each; those that run beside another (contract: runs_beside) come last.
        self.components = tuple(components)
        self.size = size
        # The service's name, and its task family: the (first) component's, or `control-plane`.
        self.name = name or components[0].name
        # The catalogue's command, health check, ports and stop timeout (contract.py).
        self.task = AirflowTaskDefinition(
            self,
            "Task",
            runtime=runtime,
            family=self.name,
            size=size,
            containers=[
                component_container(c, extra_environment=(extra_environment or {}).get(c.name)) for c in components
            ],
            metrics_agent=metrics_agent,
        )
        # No inbound rule unless the stack adds one: in public egress mode this group is
        # what keeps a task with a public IP unreachable from the internet.
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description=f"{settings.name} {self.name}", allow_all_outbound=True
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            service_name=f"{settings.name}-{self.name}",
            cluster=cluster,
            task_definition=self.task.task_definition,
            desired_count=size.count,
            vpc_subnets=subnets,
            assign_public_ip=assign_public_ip,
            security_groups=[self.security_group],
            capacity_provider_strategies=list(capacity_provider_strategies),
            platform_version=ecs.FargatePlatformVersion.LATEST,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            # Start the new task and wait for it to be healthy before stopping the old one
            # (two schedulers or api-servers side by side are fine in Airflow 3).
            min_healthy_percent=100,
            max_healthy_percent=200,
            # ECS spreads a service's tasks over the subnets' zones; after a zone comes back it
            # moves tasks again so that two of a kind never stay in one zone.
            availability_zone_rebalancing=ecs.AvailabilityZoneRebalancing.ENABLED,
            enable_execute_command=True,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            health_check_grace_period=health_check_grace_period,
        )
        self.connections = self.service.connections

    def runs(self, component: str) -> bool:
        return any(c.name == component for c in self.components)
