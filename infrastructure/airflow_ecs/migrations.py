"""Database migrations on every deploy, before any service rolls (Helm's migrate-database job).

A custom resource runs the standalone task definition with `init` (migrate, then create or
reset the admin user) and waits for its exit code. Its properties carry the task definition's
revision ARN, which changes with every new image tag or configuration, so CloudFormation runs
it again exactly when new code ships; the services depend on it, so they update only after the
schema is current, and a failed migration fails the deploy and rolls it back.
The Provider framework polls (Step Functions) up to `total_timeout`, beyond Lambda's 15 minutes;
the handler stops a task still running at `MIGRATION_TIMEOUT` (earlier, so it can), and retries a
RunTask refused for capacity for as long as `on_event` may run.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from airflow_ecs.common import retention
from airflow_ecs.settings import DeploymentSettings
from airflow_ecs.standalone_task import StandaloneTask

HANDLER_DIR = Path(__file__).parent / "migrations_handler"
INIT_COMMAND = ["init"]
TOTAL_TIMEOUT = Duration.minutes(30)
# The task is stopped at this age, leaving the Provider time to report the failure before its own timeout.
MIGRATION_TIMEOUT = Duration.minutes(25)
# on_event retries RunTask with backoff when Fargate has no capacity: a few minutes of tries.
START_TIMEOUT = Duration.minutes(5)
POLL_TIMEOUT = Duration.minutes(1)


class MigrationsOnDeploy(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploymentSettings,
        cluster: ecs.ICluster,
        standalone: StandaloneTask,
        subnets: list[ec2.ISubnet],
        assign_public_ip: bool,
    ) -> None:
        super().__init__(scope, id)
        self.log_group = logs.LogGroup(
            self, "HandlerLogs", retention=retention(settings.log_retention_days), removal_policy=RemovalPolicy.DESTROY
        )

        def handler(name: str, entry: str, timeout: Duration) -> lambda_.Function:
            return lambda_.Function(
                self,
                name,
                runtime=lambda_.Runtime.PYTHON_3_14,
                code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__"]),
                handler=f"index.{entry}",
                timeout=timeout,
                log_group=self.log_group,
            )

        self.on_event = handler("OnEvent", "on_event", START_TIMEOUT)
        self.is_complete = handler("IsComplete", "is_complete", POLL_TIMEOUT)
        # RunTask on this task definition only, passing only its two roles.
        standalone.task_definition.grant_run(self.on_event)
        # Describe the migration task, and stop it when it outlives MIGRATION_TIMEOUT.
        self.is_complete.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:DescribeTasks", "ecs:StopTask"],
                resources=[
                    Stack.of(self).format_arn(service="ecs", resource="task", resource_name=f"{cluster.cluster_name}/*")
                ],
            )
        )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event,
            is_complete_handler=self.is_complete,
            query_interval=Duration.seconds(15),
            total_timeout=TOTAL_TIMEOUT,
            log_group=self.log_group,
        )
        self.resource = CustomResource(
            self,
            "Run",
            service_token=self.provider.service_token,
            resource_type="Custom::AirflowMigrations",
            properties={
                "Cluster": cluster.cluster_name,
                "TaskDefinition": standalone.task_definition.task_definition_arn,
                "ContainerName": standalone.task.container_name,
                "Command": INIT_COMMAND,
                "Subnets": [subnet.subnet_id for subnet in subnets],
                "SecurityGroups": [standalone.security_group.security_group_id],
                "AssignPublicIp": "ENABLED" if assign_public_ip else "DISABLED",
                "LogGroup": standalone.task.log_group.log_group_name,
                "TimeoutSeconds": str(int(MIGRATION_TIMEOUT.to_seconds())),
            },
        )
