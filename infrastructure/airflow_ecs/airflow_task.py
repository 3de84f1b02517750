"""Airflow containers in a Fargate task definition, started as docs/runtime-contract.md says.

Every component runs the contract's entrypoint, `python -m deploy_airflow_on_ecs_fargate <component>`
(the entry point is set here, so whatever ENTRYPOINT the image has does not matter and a one-off task
overrides only the arguments), logs to its own log group, and the long-running ones are
health-checked with the contract's command, `python -m deploy_airflow_on_ecs_fargate.health <component>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

from airflow_ecs.common import retention
from airflow_ecs.metrics_agent import MEMORY_MIB as METRICS_AGENT_MEMORY_MIB
from airflow_ecs.metrics_agent import MetricsAgent
from airflow_ecs.settings import DeploymentSettings, TaskSize
from deploy_airflow_on_ecs_fargate import contract


@dataclass(frozen=True, kw_only=True)
class AirflowRuntime:
    """What every Airflow container of a deployment shares."""

    settings: DeploymentSettings
    image: ecs.ContainerImage
    environment: Mapping[str, str]
    secrets: Mapping[str, ecs.Secret]


@dataclass(frozen=True, kw_only=True)
class ContainerSpec:
    """One Airflow container of a task definition: what it runs and how it is checked and stopped."""

    name: str
    command: Sequence[str]
    health_component: str | None
    port_mappings: Sequence[int] = ()
    extra_environment: Mapping[str, str] | None = None
    extra_secrets: Mapping[str, ecs.Secret] | None = None
    stop_timeout: Duration | None = None


def component_container(component: contract.Component, **extra: Any) -> ContainerSpec:
    """The catalogue's command, health check, ports and stop timeout of a long-running component."""
    return ContainerSpec(
        name=component.name,
        command=[component.name],
        health_component=component.name,
        port_mappings=[port.number for port in component.ports],
        stop_timeout=Duration.seconds(component.stop_timeout_seconds),
        **extra,
    )


class AirflowTaskDefinition(Construct):
    """A Fargate task definition of one or more Airflow containers, each with its own log group.

    The first container's constructs keep the ids a task of one container always had (`Logs`,
    `Airflow`), so adding a container beside it (the worker-demand publisher beside the
    scheduler) does not replace its log group; the others' ids carry their names.

    With `metrics_agent`, the CloudWatch agent is one more container, after the Airflow ones
    (metrics_agent.py); a lone Airflow container's memory limit leaves it its share.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        runtime: AirflowRuntime,
        family: str,
        size: TaskSize,
        containers: Sequence[ContainerSpec],
        metrics_agent: MetricsAgent | None = None,
    ) -> None:
        super().__init__(scope, id)
        settings = runtime.settings
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            family=f"{settings.name}-{family}",
            cpu=size.cpu,
            memory_limit_mib=size.memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
                cpu_architecture=ecs.CpuArchitecture.of(settings.cpu_architecture),
            ),
        )
        self.log_groups: dict[str, logs.LogGroup] = {}
        self.containers: dict[str, ecs.ContainerDefinition] = {}
        alone = len(containers) == 1
        beside = METRICS_AGENT_MEMORY_MIB if metrics_agent is not None else 0
        for index, spec in enumerate(containers):
            prefix = "" if index == 0 else "".join(part.title() for part in spec.name.split("-"))
            self._add(runtime, spec, prefix, size.memory_mib - beside if alone else None)
        self.metrics_agent: ecs.ContainerDefinition | None = None
        if metrics_agent is not None:
            self.metrics_agent_log_group = self._log_group(settings, "MetricsAgentLogs")
            self.metrics_agent = metrics_agent.add_to(self.task_definition, self.metrics_agent_log_group)
        first = containers[0].name
        # The only (or first) container: what one-off tasks override and single-component services use.
        self.container_name = first
        self.container = self.containers[first]
        self.log_group = self.log_groups[first]

    def _log_group(self, settings: DeploymentSettings, id: str) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            id,
            retention=retention(settings.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if settings.removal_protected else RemovalPolicy.DESTROY,
        )

    def _add(self, runtime: AirflowRuntime, spec: ContainerSpec, prefix: str, memory_mib: int | None) -> None:
        settings = runtime.settings
        log_group = self._log_group(settings, f"{prefix}Logs")
        health_check = None
        if spec.health_component is not None:
            # The contract's timings: interval > timeout (the seed's gotcha), start period > a cold start.
            health_check = ecs.HealthCheck(
                command=["CMD", *contract.HEALTH_COMMAND, spec.health_component],
                interval=Duration.seconds(contract.HEALTH_INTERVAL_SECONDS),
                timeout=Duration.seconds(contract.HEALTH_TIMEOUT_SECONDS),
                retries=contract.HEALTH_RETRIES,
                start_period=Duration.seconds(contract.HEALTH_START_PERIOD_SECONDS),
            )
        self.containers[spec.name] = self.task_definition.add_container(
            prefix or "Airflow",
            container_name=spec.name,
            image=runtime.image,
            entry_point=list(contract.ENTRYPOINT),
            command=list(spec.command),
            # In a task of several containers each is essential: one that exits stops the task and
            # ECS starts a new one, as it would a single-component task.
            essential=True,
            # Container-level memory too: required by some ECS API emulators, harmless on AWS. In a
            # shared task the containers share its memory instead of splitting it up front.
            memory_limit_mib=memory_mib,
            environment={**runtime.environment, **(spec.extra_environment or {})},
            secrets={**runtime.secrets, **(spec.extra_secrets or {})},
            health_check=health_check,
            stop_timeout=spec.stop_timeout,
            logging=ecs.LogDrivers.aws_logs(stream_prefix=spec.name, log_group=log_group),
            # A minimal init as PID 1 reaps the zombies ECS Exec sessions leave behind.
            linux_parameters=ecs.LinuxParameters(self, f"{prefix}Linux", init_process_enabled=True),
            port_mappings=[ecs.PortMapping(container_port=port, name=f"port-{port}") for port in spec.port_mappings],
        )
        self.log_groups[spec.name] = log_group
