"""What the dashboard (dashboard.py) and the alarms (alarms.py) watch, and how their metrics are named.

Airflow's own metrics come from the CloudWatch agent beside the components (metrics_agent.py), one
per name the runtime contract keeps (contract.METRICS); everything else is AWS's free metrics: ECS
service CPU and memory, SQS, RDS, the load balancer or the HTTP API, and the WorkersNeeded metric
the worker-demand publisher puts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sqs as sqs

from airflow_ecs.airflow_service import AirflowService
from airflow_ecs.api_server import Endpoint, HttpApiEndpoint
from airflow_ecs.metrics_agent import metric_dimensions, metric_name
from airflow_ecs.settings import DeploymentSettings
from deploy_airflow_on_ecs_fargate import contract, worker_demand

ONE_MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)


@dataclass(frozen=True)
class Heartbeat:
    """A component that heartbeats through a kept metric, and how many of it should run."""

    component: str
    metric: contract.Metric
    count: int

    @property
    def per_five_minutes(self) -> float:
        """Increments one running instance sends in five minutes."""
        assert self.metric.heartbeat_seconds is not None
        return 300 / self.metric.heartbeat_seconds


@dataclass(frozen=True, kw_only=True)
class Observed:
    settings: DeploymentSettings
    # component -> the service that runs it (dev's control-plane service runs four).
    services: Mapping[str, AirflowService]
    queue: sqs.IQueue
    database: rds.DatabaseInstance
    endpoint: Endpoint
    # Where WorkersNeeded is, and where Airflow's metrics are (None: settings.metrics is off).
    deployment_namespace: str
    statsd_namespace: str | None

    @property
    def metrics_on(self) -> bool:
        return self.statsd_namespace is not None

    @property
    def distinct_services(self) -> list[AirflowService]:
        return list({id(service): service for service in self.services.values()}.values())

    @property
    def http_api(self) -> bool:
        return isinstance(self.endpoint, HttpApiEndpoint)

    def airflow(
        self, name: str, statistic: str, *, period: Duration = ONE_MINUTE, label: str | None = None
    ) -> cloudwatch.Metric:
        """One of Airflow's kept metrics as the agent puts it."""
        assert self.statsd_namespace is not None, "Airflow's metrics are off (settings.metrics)"
        metric = contract.METRICS_BY_NAME[name]
        return cloudwatch.Metric(
            namespace=self.statsd_namespace,
            metric_name=metric_name(metric),
            dimensions_map=metric_dimensions(metric),
            statistic=statistic,
            period=period,
            label=label or name,
        )

    def workers_needed(self) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self.deployment_namespace,
            metric_name=worker_demand.METRIC_NAME,
            statistic="Maximum",  # two schedulers publish the same value
            period=ONE_MINUTE,
            label="workers needed (autoscaling's desired count)",
        )

    def heartbeats(self) -> list[Heartbeat]:
        """Each component with a heartbeat metric that should be running (a count above 0)."""
        found = []
        for metric in contract.METRICS:
            if metric.heartbeat_seconds is None:
                continue
            (component,) = metric.emitted_by
            count = self.settings.task_count_of(component)
            if count > 0:
                found.append(Heartbeat(component, metric, count))
        return found
