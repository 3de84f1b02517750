"""One Airflow container in its own Fargate task definition, started as docs/runtime-contract.md says.

Every component runs the contract's entrypoint, `python -m deploy_airflow_on_ecs_fargate <component>`
(the entry point is set here, so whatever ENTRYPOINT the image has does not matter and a one-off task
overrides only the arguments), logs to its own log group, and the long-running ones are
health-checked with the contract's command, `python -m deploy_airflow_on_ecs_fargate.health <component>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

from airflow_ecs.common import retention
from airflow_ecs.settings import DeploymentSettings, TaskSize
from deploy_airflow_on_ecs_fargate import contract


@dataclass(frozen=True, kw_only=True)
class AirflowRuntime:
    """What every Airflow container of a deployment shares."""

    settings: DeploymentSettings
    image: ecs.ContainerImage
    environment: Mapping[str, str]
    secrets: Mapping[str, ecs.Secret]


class AirflowTaskDefinition(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        runtime: AirflowRuntime,
        container_name: str,
        command: Sequence[str],
        size: TaskSize,
        health_component: str | None,
        port_mappings: Sequence[int] = (),
        extra_environment: Mapping[str, str] | None = None,
        extra_secrets: Mapping[str, ecs.Secret] | None = None,
        stop_timeout: Duration | None = None,
    ) -> None:
        super().__init__(scope, id)
        settings = runtime.settings
        self.container_name = container_name
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention(settings.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if settings.removal_protected else RemovalPolicy.DESTROY,
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            family=f"{settings.name}-{container_name}",
            cpu=size.cpu,
            memory_limit_mib=size.memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
                cpu_architecture=ecs.CpuArchitecture.of(settings.cpu_architecture),
            ),
        )
        health_check = None
        if health_component is not None:
            # The contract's timings: interval > timeout (the seed's gotcha), start period > a cold start.
            health_check = ecs.HealthCheck(
                command=["CMD", *contract.HEALTH_COMMAND, health_component],
                interval=Duration.seconds(contract.HEALTH_INTERVAL_SECONDS),
                timeout=Duration.seconds(contract.HEALTH_TIMEOUT_SECONDS),
                retries=contract.HEALTH_RETRIES,
                start_period=Duration.seconds(contract.HEALTH_START_PERIOD_SECONDS),
            )
        self.container = self.task_definition.add_container(
            "Airflow",
            container_name=container_name,
            image=runtime.image,
            entry_point=list(contract.ENTRYPOINT),
            command=list(command),
            essential=True,
            # Container-level memory too: required by some ECS API emulators, harmless on AWS.
            memory_limit_mib=size.memory_mib,
            environment={**runtime.environment, **(extra_environment or {})},
            secrets={**runtime.secrets, **(extra_secrets or {})},
            health_check=health_check,
            stop_timeout=stop_timeout,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=container_name, log_group=self.log_group),
            # A minimal init as PID 1 reaps the zombies ECS Exec sessions leave behind.
            linux_parameters=ecs.LinuxParameters(self, "Linux", init_process_enabled=True),
            port_mappings=[ecs.PortMapping(container_port=port, name=f"port-{port}") for port in port_mappings],
        )
