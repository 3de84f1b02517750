"""The CloudWatch agent beside the Airflow containers of a task (docs/decisions/0070-metrics-collector.md).

Airflow sends the metrics the runtime contract keeps (contract.METRICS) as StatsD to 127.0.0.1:8125;
the agent, a second container of the same task (one network namespace), aggregates them over a
minute and puts them to CloudWatch in one call, under the deployment's StatsD namespace, each metric
with the single dimension `metric_type` (no host: a replaced task does not start new metrics).

It is not essential: a collector that dies must not stop a scheduler, so ECS restarts it in place
(container restart policy) and Airflow's UDP sends are lost meanwhile, never blocked. The image has
no shell and the agent no health endpoint for StatsD, so there is no container health check: the
scheduler heartbeat alarm (missing data breaches) is what notices metrics that stopped arriving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs

from deploy_airflow_on_ecs_fargate import contract

# Pinned, not `latest`: a task definition should name one image, so that what runs changes only with
# a deploy (a task started by autoscaling at night pulls the same agent as the one tested), and agent
# releases have changed defaults before. AWS publishes it for x86_64 and ARM64 (gallery.ecr.aws/
# cloudwatch-agent/cloudwatch-agent); bump the version here and deploy.
IMAGE = "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300064.1b1344"
CONTAINER_NAME = "cloudwatch-agent"
# Hard limit: the agent with only a StatsD listener stays well under it; a leak is killed and
# restarted instead of taking memory from Airflow. The task's CPU is shared (no reservation).
MEMORY_MIB = 128
# StatsD is sampled every 10 s and aggregated into one datapoint a minute; the agent puts what it
# holds once a minute: one PutMetricData call per task per minute (priced by `airflow-ecs cost`).
COLLECTION_SECONDS = 10
AGGREGATION_SECONDS = 60
FLUSH_SECONDS = 60
# The agent reads its JSON configuration from this variable when it runs in a container.
CONFIG_VARIABLE = "CW_CONFIG_CONTENT"
NAMESPACE_SUFFIX = "/StatsD"


def statsd_namespace(deployment_namespace: str) -> str:
    """Airflow's metrics beside, not inside, the deployment's own namespace: the task roles that may
    publish them cannot touch WorkersNeeded, which drives worker autoscaling."""
    return deployment_namespace + NAMESPACE_SUFFIX


def metric_name(metric: contract.Metric) -> str:
    """The metric's name in CloudWatch: the StatsD bucket as Airflow sends it."""
    return f"{contract.STATSD_PREFIX}.{metric.name}"


def metric_dimensions(metric: contract.Metric) -> dict[str, str]:
    return {"metric_type": contract.STATSD_METRIC_TYPES[metric.kind]}


@dataclass(frozen=True)
class MetricsAgent:
    """What every agent of a deployment shares: where its metrics go."""

    namespace: str
    region: str

    def config(self) -> dict:
        return {
            "agent": {"region": self.region, "omit_hostname": True},
            "metrics": {
                "namespace": self.namespace,
                "force_flush_interval": FLUSH_SECONDS,
                "metrics_collected": {
                    "statsd": {
                        # Loopback: only the containers of its own task can send to it.
                        "service_address": f"127.0.0.1:{contract.STATSD_PORT}",
                        "metrics_collection_interval": COLLECTION_SECONDS,
                        "metrics_aggregation_interval": AGGREGATION_SECONDS,
                        # Airflow's dotted names as they are (the agent's default turns dots into `_`).
                        "metric_separator": ".",
                    }
                },
            },
        }

    def airflow_environment(self) -> dict[str, str]:
        """What an Airflow container of the task is given to send the kept metrics to the agent."""
        return contract.statsd_environment("127.0.0.1")

    def add_to(self, task_definition: ecs.FargateTaskDefinition, log_group: logs.ILogGroup) -> ecs.ContainerDefinition:
        task_definition.add_to_task_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                # PutMetricData has no resource-level permissions: the namespace condition limits it.
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": self.namespace}},
            )
        )
        return task_definition.add_container(
            "MetricsAgent",
            container_name=CONTAINER_NAME,
            image=ecs.ContainerImage.from_registry(IMAGE),
            essential=False,
            enable_restart_policy=True,
            restart_attempt_period=Duration.seconds(60),
            memory_limit_mib=MEMORY_MIB,
            environment={CONFIG_VARIABLE: json.dumps(self.config(), sort_keys=True)},
            logging=ecs.LogDrivers.aws_logs(stream_prefix=CONTAINER_NAME, log_group=log_group),
        )
