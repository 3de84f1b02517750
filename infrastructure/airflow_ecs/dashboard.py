"""The deployment's CloudWatch dashboard, named after it (README, Operations: the widgets and what
they mean). Rows: the alarms; Airflow (when settings.metrics is on); queue and workers; services;
database; the UI's endpoint. Every widget reads metrics the alarms or AWS already have: the
dashboard adds no custom metric.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from airflow_ecs.api_server import HttpApiEndpoint, PublicEndpoint
from airflow_ecs.observability import FIVE_MINUTES, ONE_MINUTE, Observed

WIDTH = 24
HEIGHT = 6


def graph(title: str, left: Sequence[cloudwatch.IMetric], *, width: int = 8, **options) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(left), width=width, height=HEIGHT, **options)


class OperationsDashboard(Construct):
    def __init__(self, scope: Construct, id: str, *, observed: Observed, alarms: Sequence[cloudwatch.IAlarm]) -> None:
        super().__init__(scope, id)
        self.observed = observed
        settings = observed.settings
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=settings.name)
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=WIDTH, height=3)
        )
        if observed.metrics_on:
            self._airflow()
        self._queue_and_workers()
        self._services()
        self._database()
        self._endpoint()
        CfnOutput(
            Stack.of(self),
            "DashboardName",
            value=settings.name,
            description="CloudWatch dashboard of the deployment",
        )

    def _airflow(self) -> None:
        observed = self.observed
        heartbeats = [
            observed.airflow(heartbeat.metric.name, "Sum", label=f"{heartbeat.component} ({heartbeat.count} x 12/min)")
            for heartbeat in observed.heartbeats()
        ]
        self.dashboard.add_widgets(
            graph("Heartbeats per minute (12 per running instance)", heartbeats),
            graph(
                "Scheduler loop duration (ms, a busy loop includes its pause, at most 500)",
                [
                    observed.airflow("scheduler.scheduler_loop_duration", "Average", label="average"),
                    observed.airflow("scheduler.scheduler_loop_duration", "Maximum", label="maximum"),
                ],
            ),
            graph(
                "Task instances queued and running (executor)",
                [
                    observed.airflow("executor.queued_tasks", "Maximum", label="queued"),
                    observed.airflow("executor.running_tasks", "Maximum", label="running"),
                ],
            ),
        )
        self.dashboard.add_widgets(
            graph(
                "Task instances finished per 5 minutes",
                [
                    observed.airflow("ti_successes", "Sum", period=FIVE_MINUTES, label="succeeded"),
                    observed.airflow("ti_failures", "Sum", period=FIVE_MINUTES, label="failed"),
                ],
            ),
            graph(
                "default_pool open slots, DAG import errors",
                [
                    observed.airflow("pool.open_slots.default_pool", "Minimum", label="default_pool open slots"),
                    observed.airflow("dag_processing.import_errors", "Maximum", label="DAG files failing to import"),
                ],
            ),
            graph(
                "Triggerer: triggers running, capacity left",
                [
                    observed.airflow("triggers.running", "Maximum", label="triggers running (busiest triggerer)"),
                    observed.airflow("triggerer.capacity_left", "Minimum", label="capacity left (fullest triggerer)"),
                ],
            ),
        )

    def _queue_and_workers(self) -> None:
        queue, observed = self.observed.queue, self.observed
        self.dashboard.add_widgets(
            graph(
                "Queue: task messages waiting and in flight",
                [
                    queue.metric_approximate_number_of_messages_visible(
                        statistic="Maximum", period=ONE_MINUTE, label="waiting"
                    ),
                    queue.metric_approximate_number_of_messages_not_visible(
                        statistic="Maximum", period=ONE_MINUTE, label="in flight (running tasks)"
                    ),
                ],
            ),
            graph(
                "Queue: age of the oldest message (s)",
                [queue.metric_approximate_age_of_oldest_message(statistic="Maximum", period=ONE_MINUTE, label="age")],
            ),
            graph(
                "Workers: desired (autoscaling) and running",
                [
                    observed.workers_needed(),
                    # No free metric counts a service's running tasks (Container Insights does, at a
                    # price): the worker service's CPU shows when workers run and how busy they are.
                    observed.services["worker"].service.metric_cpu_utilization(
                        statistic="Average", period=ONE_MINUTE, label="worker CPU % (no line: none running)"
                    ),
                ],
            ),
        )

    def _services(self) -> None:
        services = self.observed.distinct_services
        self.dashboard.add_widgets(
            graph(
                "Service CPU (% of the task's)",
                [
                    airflow.service.metric_cpu_utilization(statistic="Average", period=ONE_MINUTE, label=airflow.name)
                    for airflow in services
                ],
                width=12,
            ),
            graph(
                "Service memory (% of the task's)",
                [
                    airflow.service.metric_memory_utilization(
                        statistic="Average", period=ONE_MINUTE, label=airflow.name
                    )
                    for airflow in services
                ],
                width=12,
            ),
        )

    def _database(self) -> None:
        database = self.observed.database
        self.dashboard.add_widgets(
            graph("Database CPU (%)", [database.metric_cpu_utilization(statistic="Average", period=ONE_MINUTE)]),
            graph(
                "Database connections", [database.metric_database_connections(statistic="Maximum", period=ONE_MINUTE)]
            ),
            graph(
                "Database free storage (bytes)",
                [database.metric_free_storage_space(statistic="Minimum", period=FIVE_MINUTES)],
            ),
        )

    def _endpoint(self) -> None:
        endpoint = self.observed.endpoint
        if isinstance(endpoint, HttpApiEndpoint):
            api = endpoint.api
            self.dashboard.add_widgets(
                graph(
                    "UI (HTTP API): 5xx per 5 minutes",
                    [api.metric_server_error(statistic="Sum", period=FIVE_MINUTES, label="5xx")],
                    width=12,
                ),
                graph(
                    "UI (HTTP API): latency (ms)",
                    [
                        api.metric_latency(statistic="p50", period=ONE_MINUTE, label="p50"),
                        api.metric_latency(statistic="p99", period=ONE_MINUTE, label="p99"),
                    ],
                    width=12,
                ),
            )
            return
        assert isinstance(endpoint, PublicEndpoint)
        metrics = endpoint.load_balancer.metrics
        self.dashboard.add_widgets(
            graph(
                "UI (load balancer): 5xx per 5 minutes",
                [
                    metrics.http_code_target(
                        elbv2.HttpCodeTarget.TARGET_5XX_COUNT, statistic="Sum", period=FIVE_MINUTES, label="api-server"
                    ),
                    metrics.http_code_elb(
                        elbv2.HttpCodeElb.ELB_5XX_COUNT, statistic="Sum", period=FIVE_MINUTES, label="load balancer"
                    ),
                ],
            ),
            graph(
                "UI (load balancer): response time (s)",
                [
                    metrics.target_response_time(statistic="p50", period=ONE_MINUTE, label="p50"),
                    metrics.target_response_time(statistic="p99", period=ONE_MINUTE, label="p99"),
                ],
            ),
            graph(
                "UI (load balancer): healthy api-servers",
                [endpoint.target_group.metrics.healthy_host_count(statistic="Minimum", period=ONE_MINUTE)],
            ),
        )
