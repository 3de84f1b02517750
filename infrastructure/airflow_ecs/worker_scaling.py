"""Worker autoscaling: from `worker.count` (0 by default) up to `worker_max_count`, on the demand
metric the publisher puts (deploy_airflow_on_ecs_fargate/worker_demand.py). Why this shape:
docs/decisions/0050-worker-autoscaling.md.

One step policy with `ExactCapacity` steps sets the service to exactly `WorkersNeeded` workers
whenever the metric is 1 or more; a second one sets the idle count when it is 0. Both alarms
are high resolution (10 s, one datapoint), and while an alarm stays in ALARM Application
Auto Scaling keeps applying the policy, so capacity follows the metric up and down. The metric
itself holds its highest value of the last `worker_scale_in_after_seconds`, so scale-in waits for
demand to stay lower that long; busy workers are protected from scale-in by the workers themselves.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from airflow_ecs.settings import DeploymentSettings
from deploy_airflow_on_ecs_fargate import worker_demand

# High-resolution alarms evaluate every 10 s (CloudWatch's shortest alarm period).
ALARM_PERIOD = Duration.seconds(10)


class WorkerScaling(Construct):
    def __init__(
        self, scope: Construct, id: str, *, service: ecs.FargateService, settings: DeploymentSettings, namespace: str
    ) -> None:
        super().__init__(scope, id)
        idle, most = settings.worker.count, settings.worker_max_count
        self.target = service.auto_scale_task_count(min_capacity=idle, max_capacity=most)
        self.metric = cloudwatch.Metric(
            namespace=namespace,
            metric_name=worker_demand.METRIC_NAME,
            statistic="Maximum",  # two schedulers publish the same value
            period=ALARM_PERIOD,
        )
        # Built from the lower-level constructs: `scale_on_metric` reads a change of 0 as "do
        # nothing", which an exact capacity of 0 workers is not.
        self.scale_to_demand = self._policy(
            "ScaleToDemand",
            # From 1: exactly n workers for a value in [n, n + 1), the maximum from there on
            # (intervals are relative to the threshold of 1).
            steps=[(n - 1, n, n) for n in range(1, most)] + [(most - 1, None, most)],
            alarm_threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        self.scale_to_idle = self._policy(
            "ScaleToIdle",
            steps=[(None, 0, idle)],
            alarm_threshold=0,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
        )

    def _policy(
        self,
        id: str,
        *,
        steps: list[tuple[int | None, int | None, int]],
        alarm_threshold: int,
        comparison: cloudwatch.ComparisonOperator,
    ) -> appscaling.StepScalingAction:
        action = appscaling.StepScalingAction(
            self,
            id,
            scaling_target=self.target,
            adjustment_type=appscaling.AdjustmentType.EXACT_CAPACITY,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
            # The metric already waits before it falls; a cooldown would only delay scale-out.
            cooldown=Duration.seconds(0),
        )
        for lower, upper, workers in steps:
            action.add_adjustment(adjustment=workers, lower_bound=lower, upper_bound=upper)
        alarm = cloudwatch.Alarm(
            self,
            f"{id}Alarm",
            metric=self.metric,
            threshold=alarm_threshold,
            comparison_operator=comparison,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            # No datapoint (the publisher restarting): keep the workers as they are.
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
            alarm_description=f"Worker autoscaling: {id} (WorkersNeeded {comparison.value} {alarm_threshold})",
        )
        alarm.add_alarm_action(cloudwatch_actions.ApplicationScalingAction(action))
        return action
