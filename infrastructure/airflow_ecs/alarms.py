"""The deployment's alarms and the one SNS topic they notify (docs/decisions/0071-alarms.md).

Every alarm is named `<deployment>-<what>`, notifies the topic when it goes to ALARM, and its
description is one line saying what to check first. Thresholds come from `settings.alarms`.

Services below their desired count are found without Container Insights: the scheduler, the
dag-processor and the triggerer each heartbeat through a kept metric (every 5 s per running
instance), so five minutes of heartbeats count the instances that are alive; the api-server's
healthy count is the load balancer's. Missing data breaches: a component that is gone sends nothing.

With a night stop (settings.scheduled_scaling) those alarms would fire every night. EventBridge
Scheduler disables their actions at the stop, enables them 10 minutes after the start, and 5 minutes
later sets each back to OK, so one that is still breaching (a control plane that did not come back)
goes to ALARM again and notifies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from airflow_ecs.api_server import HttpApiEndpoint, PublicEndpoint
from airflow_ecs.observability import FIVE_MINUTES, ONE_MINUTE, Observed
from airflow_ecs.settings import WEEK_DAYS, ScheduledScaling, cron_fields

GIB = 1024**3
# After the morning start: actions back on once the tasks had time to start and heartbeat, then a
# reset to OK so that a control plane still down alarms (and notifies) again.
RESUME_AFTER_MINUTES = 10
RECHECK_AFTER_MINUTES = 15
COMPARISON = cloudwatch.ComparisonOperator
MISSING = cloudwatch.TreatMissingData


class DeploymentAlarms(Construct):
    def __init__(self, scope: Construct, id: str, *, observed: Observed) -> None:
        super().__init__(scope, id)
        self.observed = observed
        settings = observed.settings
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=f"{settings.name}-alarms",
            display_name=f"{settings.name} alarms",
            enforce_ssl=True,
        )
        if settings.alarms.email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.alarms.email))
        self.alarms: list[cloudwatch.Alarm] = []
        self.names: dict[str, str] = {}
        # The alarms on what the night stop stops (their actions pause at night).
        self.control_plane: list[cloudwatch.Alarm] = []
        if observed.metrics_on:
            self._airflow_alarms()
        self._queue_alarm()
        self._database_alarms()
        self._endpoint_alarms()
        if settings.scheduled_scaling is not None and self.control_plane:
            self._pause_at_night(settings.scheduled_scaling, self.control_plane)
        CfnOutput(
            Stack.of(self), "AlarmTopicArn", value=self.topic.topic_arn, description="SNS topic the alarms notify"
        )

    def _alarm(
        self,
        slug: str,
        *,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        periods: int,
        missing: cloudwatch.TreatMissingData,
        check_first: str,
        control_plane: bool = False,
    ) -> cloudwatch.Alarm:
        name = f"{self.observed.settings.name}-{slug}"
        alarm = cloudwatch.Alarm(
            self,
            "".join(part.title() for part in slug.split("-")),
            alarm_name=name,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=missing,
            alarm_description=check_first,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        # Literal names (not references): the schedules' requests name them.
        self.names[alarm.node.id] = name
        if control_plane:
            self.control_plane.append(alarm)
        return alarm

    def _airflow_alarms(self) -> None:
        observed, limits = self.observed, self.observed.settings.alarms
        self._alarm(
            "scheduler-heartbeat-missing",
            metric=observed.airflow("scheduler_heartbeat", "Sum", period=ONE_MINUTE),
            threshold=1,
            comparison=COMPARISON.LESS_THAN_THRESHOLD,
            periods=3,
            # No scheduler sends nothing at all.
            missing=MISSING.BREACHING,
            check_first="No scheduler heartbeat for 3 minutes: check `airflow-ecs status` and "
            "`airflow-ecs logs scheduler --since 15m` first.",
            control_plane=True,
        )
        for heartbeat in observed.heartbeats():
            # One scheduler is the heartbeat alarm's case already.
            if heartbeat.component == "scheduler" and heartbeat.count == 1:
                continue
            tasks = "task" if heartbeat.count == 1 else "tasks"
            self._alarm(
                f"{heartbeat.component}-below-desired",
                metric=observed.airflow(heartbeat.metric.name, "Sum", period=FIVE_MINUTES),
                # What count - 1/2 live instances would send: one instance short alarms, a slow
                # heartbeat or two does not.
                threshold=(heartbeat.count - 0.5) * heartbeat.per_five_minutes,
                comparison=COMPARISON.LESS_THAN_THRESHOLD,
                periods=2,
                missing=MISSING.BREACHING,
                check_first=f"Fewer than {heartbeat.count} {heartbeat.component} {tasks} heartbeat for 10 minutes: "
                f"check `airflow-ecs status` (running vs desired) and `airflow-ecs logs {heartbeat.component}` first.",
                control_plane=True,
            )
        self._alarm(
            "task-failures",
            metric=observed.airflow("ti_failures", "Sum", period=Duration.minutes(15)),
            threshold=limits.task_failures,
            comparison=COMPARISON.GREATER_THAN_THRESHOLD,
            periods=1,
            missing=MISSING.NOT_BREACHING,
            check_first=f"More than {limits.task_failures} task instances failed in 15 minutes: check the failed "
            "task instances and their logs in the UI (Browse > Task Instances) first.",
        )

    def _queue_alarm(self) -> None:
        minutes = self.observed.settings.alarms.queue_age_minutes
        # Messages that wait visible, not taken by any worker (in-flight ones belong to running tasks:
        # the queue's oldest-message age would count a long task as waiting).
        waiting = self.observed.queue.metric_approximate_number_of_messages_visible(
            statistic="Minimum", period=ONE_MINUTE, label="messages waiting"
        )
        self._alarm(
            "queue-waiting",
            metric=waiting,
            threshold=0,
            comparison=COMPARISON.GREATER_THAN_THRESHOLD,
            periods=minutes,
            # SQS stops reporting an idle, empty queue.
            missing=MISSING.NOT_BREACHING,
            check_first=f"Task messages have waited in the queue for {minutes} minutes with no worker taking them: "
            "check the worker row of `airflow-ecs status` and `airflow-ecs logs worker` first.",
        )

    def _database_alarms(self) -> None:
        database, limits = self.observed.database, self.observed.settings.alarms
        self._alarm(
            "database-free-storage",
            metric=database.metric_free_storage_space(statistic="Minimum", period=FIVE_MINUTES),
            threshold=limits.db_free_storage_gib * GIB,
            comparison=COMPARISON.LESS_THAN_THRESHOLD,
            periods=1,
            missing=MISSING.MISSING,
            check_first=f"The metadata database has under {limits.db_free_storage_gib} GiB free: check its storage "
            "autoscaling ceiling (db_max_allocated_storage_gib) and run `airflow-ecs run-task --component db-clean` first.",
        )
        self._alarm(
            "database-cpu",
            metric=database.metric_cpu_utilization(statistic="Average", period=FIVE_MINUTES),
            threshold=limits.db_cpu_percent,
            comparison=COMPARISON.GREATER_THAN_THRESHOLD,
            periods=3,
            missing=MISSING.MISSING,
            check_first=f"Database CPU above {limits.db_cpu_percent} % for 15 minutes: check the dashboard's scheduler "
            "loop duration and database connections first; a steady load needs a bigger db_instance_type.",
        )

    def _endpoint_alarms(self) -> None:
        observed, settings = self.observed, self.observed.settings
        endpoint, limit = observed.endpoint, settings.alarms.ui_5xx
        errors: cloudwatch.IMetric
        if isinstance(endpoint, HttpApiEndpoint):
            errors = endpoint.api.metric_server_error(statistic="Sum", period=FIVE_MINUTES, label="5xx")
        else:
            assert isinstance(endpoint, PublicEndpoint)
            metrics = endpoint.load_balancer.metrics
            errors = cloudwatch.MathExpression(
                expression="FILL(target, 0) + FILL(balancer, 0)",
                using_metrics={
                    "target": metrics.http_code_target(
                        elbv2.HttpCodeTarget.TARGET_5XX_COUNT, statistic="Sum", period=FIVE_MINUTES
                    ),
                    "balancer": metrics.http_code_elb(
                        elbv2.HttpCodeElb.ELB_5XX_COUNT, statistic="Sum", period=FIVE_MINUTES
                    ),
                },
                period=FIVE_MINUTES,
                label="5xx (api-server and load balancer)",
            )
        self._alarm(
            "ui-5xx",
            metric=errors,
            threshold=limit,
            comparison=COMPARISON.GREATER_THAN_THRESHOLD,
            periods=1,
            missing=MISSING.NOT_BREACHING,
            check_first=f"The UI and REST API answered more than {limit} 5xx in 5 minutes: check "
            "`airflow-ecs logs api-server --since 15m` and the api-server row of `airflow-ecs status` first.",
            control_plane=True,
        )
        count = settings.task_count_of("api-server")
        if isinstance(endpoint, PublicEndpoint) and count > 0:
            healthy = endpoint.target_group.metrics.healthy_host_count(statistic="Minimum", period=ONE_MINUTE)
            tasks = "task" if count == 1 else "tasks"
            self._alarm(
                "api-server-below-desired",
                metric=healthy,
                threshold=count,
                comparison=COMPARISON.LESS_THAN_THRESHOLD,
                periods=10,
                missing=MISSING.BREACHING,
                check_first=f"Fewer than {count} healthy api-server {tasks} behind the load balancer for 10 minutes: "
                "check `airflow-ecs status` and `airflow-ecs logs api-server` first.",
                control_plane=True,
            )

    def _pause_at_night(self, schedule: ScheduledScaling, alarms: Sequence[cloudwatch.Alarm]) -> None:
        names = [self.names[alarm.node.id] for alarm in alarms]
        role = iam.Role(
            self,
            "NightPauseRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="Pauses the control-plane alarms' actions during the night stop",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DisableAlarmActions", "cloudwatch:EnableAlarmActions", "cloudwatch:SetAlarmState"],
                resources=[alarm.alarm_arn for alarm in alarms],
            )
        )
        stop_hour, stop_minute = cron_fields(schedule.stop_at)
        every_day = (int(stop_hour), int(stop_minute), tuple(WEEK_DAYS))
        self._schedule("PauseAtNight", role, schedule, every_day, "disableAlarmActions", {"AlarmNames": names})
        resume = minutes_after(schedule.start_at, RESUME_AFTER_MINUTES, schedule.start_days)
        self._schedule("ResumeInTheMorning", role, schedule, resume, "enableAlarmActions", {"AlarmNames": names})
        recheck = minutes_after(schedule.start_at, RECHECK_AFTER_MINUTES, schedule.start_days)
        for alarm in alarms:
            self._schedule(
                f"Recheck{alarm.node.id}",
                role,
                schedule,
                recheck,
                "setAlarmState",
                {
                    "AlarmName": self.names[alarm.node.id],
                    "StateValue": "OK",
                    "StateReason": "Morning start: evaluated again, so a control plane still down alarms again",
                },
            )

    def _schedule(
        self,
        id: str,
        role: iam.IRole,
        schedule: ScheduledScaling,
        when: tuple[int, int, tuple[str, ...]],
        action: str,
        request: dict,
    ) -> None:
        hour, minute, days = when
        scheduler.CfnSchedule(
            self,
            id,
            schedule_expression=f"cron({minute} {hour} ? * {','.join(days)} *)",
            schedule_expression_timezone=schedule.time_zone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                # EventBridge Scheduler's universal target: one CloudWatch API call.
                arn=f"arn:aws:scheduler:::aws-sdk:cloudwatch:{action}",
                role_arn=role.role_arn,
                input=json.dumps(request),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=3),
            ),
            description=f"{action} for the control-plane alarms (night stop)",
        )


def minutes_after(hh_mm: str, minutes: int, days: Sequence[str]) -> tuple[int, int, tuple[str, ...]]:
    """(hour, minute, days) of `minutes` after HH:MM on `days`; past midnight the days move on too."""
    hour, minute = (int(part) for part in cron_fields(hh_mm))
    total = hour * 60 + minute + minutes
    if total >= 24 * 60:
        days = tuple(WEEK_DAYS[(WEEK_DAYS.index(day) + 1) % 7] for day in days)
    total %= 24 * 60
    return total // 60, total % 60, tuple(days)
