"""A long-running Airflow component as an ECS service (the seed's airflow_<component>.tf).

Each has its own task definition, log group, security group and health check, a deployment
circuit breaker that rolls a failed deploy back, and ECS Exec for `aws ecs execute-command`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from airflow_ecs.airflow_task import AirflowRuntime, AirflowTaskDefinition
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
        component: Component,
        size: ComponentSize,
        cluster: ecs.ICluster,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        assign_public_ip: bool,
        extra_environment: Mapping[str, str] | None = None,
        capacity_provider_strategies: Sequence[ecs.CapacityProviderStrategy] = ON_DEMAND,
        cloud_map_options: ecs.CloudMapOptions | None = None,
        health_check_grace_period: Duration | None = None,
    ) -> None:
        super().__init__(scope, id)
        settings = runtime.settings
        self.component = component
        # The catalogue's command, health check, ports and stop timeout (contract.py).
        self.task = AirflowTaskDefinition(
            self,
            "Task",
            runtime=runtime,
            container_name=component.name,
            command=[component.name],
            size=size,
            health_component=component.name,
            port_mappings=[port.number for port in component.ports],
            extra_environment=extra_environment,
            stop_timeout=Duration.seconds(component.stop_timeout_seconds),
        )
        # No inbound rule unless the stack adds one: in public egress mode this group is
        # what keeps a task with a public IP unreachable from the internet.
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description=f"{settings.name} {component.name}", allow_all_outbound=True
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            service_name=f"{settings.name}-{component.name}",
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
            enable_execute_command=True,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
            cloud_map_options=cloud_map_options,
            health_check_grace_period=health_check_grace_period,
        )
        self.connections = self.service.connections
