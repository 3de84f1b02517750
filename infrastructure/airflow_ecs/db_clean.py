"""Delete old metadata rows on a schedule: EventBridge Scheduler runs the standalone task definition
with the runtime's `db-clean` component (docs/decisions/0073-scheduled-db-clean.md).

The container command is fixed (`db-clean`); the cut-off ("now minus the retention") is computed
by the runtime when the task runs, from AIRFLOW_DB_CLEAN_RETENTION_DAYS on the standalone task
definition, so `airflow-ecs run-task --component db-clean` cleans exactly as the schedule does.
The schedule's role may run that task definition (its current revision) and pass its two roles,
nothing else. Like the night stop (scheduled_scaling.py), times are HH:MM in an IANA time zone.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct

from airflow_ecs.settings import WEEK_DAYS, DbClean, cron_fields
from airflow_ecs.standalone_task import StandaloneTask
from deploy_airflow_on_ecs_fargate import contract

COMMAND = [contract.component("db-clean").name]


class DbCleanSchedule(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        clean: DbClean,
        cluster: ecs.ICluster,
        standalone: StandaloneTask,
        subnets: ec2.SubnetSelection,
        assign_public_ip: bool,
    ) -> None:
        super().__init__(scope, id)
        hour, minute = cron_fields(clean.at)
        every_day = set(clean.week_days) == set(WEEK_DAYS)
        # Only EventBridge Scheduler of this account may assume it (confused deputy).
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}}
            ),
            description="runs the db-clean task on its schedule",
        )
        target = targets.EcsRunFargateTask(
            cluster,
            task_definition=standalone.task_definition,
            role=self.role,
            security_groups=[standalone.security_group],
            # By type: the target allows a public IP only with a selection of public subnets.
            vpc_subnets=subnets,
            assign_public_ip=assign_public_ip,
            input=scheduler.ScheduleTargetInput.from_object(
                {"containerOverrides": [{"name": standalone.task.container_name, "command": COMMAND}]}
            ),
            # A RunTask that fails (no Fargate capacity, throttling) is tried again for an hour;
            # the next day's run catches up anyway.
            retry_attempts=3,
            max_event_age=Duration.hours(1),
        )
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description=f"airflow db clean: rows older than {clean.retention_days} days",
            schedule=scheduler.ScheduleExpression.cron(
                minute=minute,
                hour=hour,
                week_day=None if every_day else ",".join(clean.week_days),
                time_zone=TimeZone.of(clean.time_zone),
            ),
            target=target,
        )
