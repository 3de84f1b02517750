"""What a deployment is doing: its stack, each service's tasks, health and rollout, the queue, and
its alarms in ALARM.

Read-only. The oldest message's age is SQS's own CloudWatch metric: reading it from the queue
would receive (and so disturb) the very messages the workers are waiting for. The deployment's
alarms are those that notify its alarm topic (infrastructure/airflow_ecs/alarms.py), not the worker
autoscaling ones, one of which is in ALARM whenever workers idle.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_ecs_cli.outputs import StackOutputs

GOOD_STACK_STATUSES = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
AGE_METRIC_WINDOW = timedelta(minutes=15)
ALARM_TOPIC_OUTPUT = "AlarmTopicArn"


@dataclass(frozen=True)
class ServiceStatus:
    component: str
    service: str
    desired: int
    running: int
    pending: int
    # Task health as ECS reports it (the containers' health checks), e.g. {"HEALTHY": 2}.
    health: dict[str, int]
    rollout: str
    rollout_reason: str
    deployments: int
    revision: str

    @property
    def settled(self) -> bool:
        """Running what it should, one deployment, and no task failing its health check."""
        return (
            self.running == self.desired
            and self.deployments <= 1
            and self.rollout in ("COMPLETED", "")
            and not self.health.get("UNHEALTHY")
        )


@dataclass(frozen=True)
class QueueStatus:
    waiting: int
    in_flight: int
    oldest_age_seconds: float | None


@dataclass(frozen=True)
class AlarmStatus:
    name: str
    # The alarm's description: what to check first.
    check_first: str
    since: datetime | None
    # False while its actions are off: the control-plane alarms pause during the night stop.
    actions_enabled: bool


@dataclass(frozen=True)
class DeploymentStatus:
    stack_name: str
    region: str
    stack_status: str
    image_tag: str
    ui_url: str
    services: list[ServiceStatus]
    queue: QueueStatus
    # None: the stack has no alarm topic (deployed before alarms existed).
    alarms: list[AlarmStatus] | None = None

    @property
    def alarming(self) -> list[AlarmStatus]:
        """Alarms in ALARM that notify (a paused one is expected: the night stop)."""
        return [alarm for alarm in self.alarms or [] if alarm.actions_enabled]

    @property
    def healthy(self) -> bool:
        return (
            self.stack_status in GOOD_STACK_STATUSES
            and all(service.settled for service in self.services)
            and not self.alarming
        )


def _task_health(ecs: Any, cluster: str, service_name: str) -> dict[str, int]:
    arns = ecs.list_tasks(cluster=cluster, serviceName=service_name, desiredStatus="RUNNING").get("taskArns", [])
    if not arns:
        return {}
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns[:100]).get("tasks", [])
    # A service's tasks are in its group; listing by service name is not honoured by every ECS stand-in.
    own = [task for task in tasks if task.get("group") == f"service:{service_name}"]
    return dict(Counter(task.get("healthStatus", "UNKNOWN") for task in own))


def services(ecs: Any, outputs: StackOutputs) -> list[ServiceStatus]:
    """One row per ECS service; a service that runs several components (dev's control plane, one
    task of several containers) names them all."""
    hosted: dict[str, list[str]] = {}
    for component, name in outputs.services().items():
        hosted.setdefault(name, []).append(component)
    described = {
        service["serviceName"]: service
        for service in ecs.describe_services(cluster=outputs.cluster, services=list(hosted)).get("services", [])
    }
    found = []
    for name, components in hosted.items():
        component = ", ".join(components)
        service = described.get(name, {})
        primary: dict = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), {})
        found.append(
            ServiceStatus(
                component=component,
                service=name,
                desired=int(service.get("desiredCount", 0)),
                running=int(service.get("runningCount", 0)),
                pending=int(service.get("pendingCount", 0)),
                health=_task_health(ecs, outputs.cluster, name) if service else {},
                rollout=str(primary.get("rolloutState", "")) if service else "MISSING",
                rollout_reason=str(primary.get("rolloutStateReason", "")),
                deployments=len(service.get("deployments", [])),
                revision=str(primary.get("taskDefinition", service.get("taskDefinition", ""))).rsplit(":", 1)[-1],
            )
        )
    return found


def queue(sqs: Any, cloudwatch: Any, queue_url: str, now: datetime | None = None) -> QueueStatus:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    end = now or datetime.now(UTC)
    datapoints = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_url.rstrip("/").rsplit("/", 1)[-1]}],
        StartTime=end - AGE_METRIC_WINDOW,
        # Past now: the current minute's datapoint is included.
        EndTime=end + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    ).get("Datapoints", [])
    newest = max(datapoints, key=lambda point: point["Timestamp"], default=None)
    return QueueStatus(
        waiting=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        oldest_age_seconds=float(newest["Maximum"]) if newest else None,
    )


def alarms(cloudwatch: Any, outputs: StackOutputs) -> list[AlarmStatus] | None:
    """The deployment's alarms in ALARM, oldest first."""
    topic = outputs.values.get(ALARM_TOPIC_OUTPUT)
    if topic is None:
        return None
    found = []
    for page in cloudwatch.get_paginator("describe_alarms").paginate(
        ActionPrefix=topic, StateValue="ALARM", AlarmTypes=["MetricAlarm"]
    ):
        for alarm in page.get("MetricAlarms", []):
            # Checked here too: not every CloudWatch stand-in applies both filters.
            if alarm.get("StateValue") != "ALARM" or topic not in alarm.get("AlarmActions", []):
                continue
            found.append(
                AlarmStatus(
                    name=alarm["AlarmName"],
                    check_first=alarm.get("AlarmDescription") or alarm.get("StateReason", ""),
                    since=alarm.get("StateUpdatedTimestamp"),
                    actions_enabled=bool(alarm.get("ActionsEnabled", True)),
                )
            )
    return sorted(found, key=lambda alarm: (alarm.since is None, alarm.since or datetime.min.replace(tzinfo=UTC)))


def collect(ecs: Any, sqs: Any, cloudwatch: Any, outputs: StackOutputs) -> DeploymentStatus:
    return DeploymentStatus(
        stack_name=outputs.stack_name,
        region=outputs.region,
        stack_status=outputs.status,
        image_tag=outputs.image_tag,
        ui_url=outputs.ui_url,
        services=services(ecs, outputs),
        queue=queue(sqs, cloudwatch, outputs.queue_url),
        alarms=alarms(cloudwatch, outputs),
    )
