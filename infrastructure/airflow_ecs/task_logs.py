"""Remote task logs: Fargate workers are short-lived, so task logs must outlive them.

Workers (and the triggerer) upload each task's log through Airflow's remote logging; the
api-server reads it back for the UI. The store is a setting: a CloudWatch log group (readable
live, searchable) or an S3 bucket (cheaper for large volumes). Configured through the standard
`AIRFLOW__LOGGING__*` variables; the AWS connection has no credentials, so the task role is used.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from airflow_ecs.common import private_log_bucket, retention
from airflow_ecs.settings import DeploymentSettings

PREFIX = "task-logs"


class TaskLogs(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: DeploymentSettings) -> None:
        super().__init__(scope, id)
        self.log_group: logs.LogGroup | None = None
        self.bucket: s3.Bucket | None = None
        if settings.task_logs == "cloudwatch":
            self.log_group = logs.LogGroup(
                self,
                "LogGroup",
                retention=retention(settings.task_log_retention_days),
                removal_policy=RemovalPolicy.RETAIN if settings.removal_protected else RemovalPolicy.DESTROY,
            )
            # Airflow parses region and group name from a colon ARN without the ":*" suffix
            # that the LogGroup's Arn attribute carries.
            self.base_log_folder = "cloudwatch://" + Stack.of(self).format_arn(
                service="logs",
                resource="log-group",
                resource_name=self.log_group.log_group_name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            self.location = self.log_group.log_group_name
        else:
            self.bucket = private_log_bucket(self, "Bucket", expire_after_days=settings.task_log_retention_days)
            self.base_log_folder = f"s3://{self.bucket.bucket_name}/{PREFIX}"
            self.location = self.bucket.bucket_name

    def environment(self) -> dict[str, str]:
        return {
            "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
            "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": self.base_log_folder,
            "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "aws_default",
            "AIRFLOW__LOGGING__DELETE_LOCAL_LOGS": "True",
            # A connection without credentials: boto3 falls back to the task role.
            "AIRFLOW_CONN_AWS_DEFAULT": "aws://",
        }

    def grant_write(self, role: iam.IGrantable) -> None:
        """Upload task logs (Airflow's handlers also read what they append to)."""
        if self.log_group is not None:
            self.log_group.grant_write(role)
            self.log_group.grant_read(role)
        if self.bucket is not None:
            self._grant_bucket(role, ["s3:GetObject", "s3:PutObject"])

    def grant_read(self, role: iam.IGrantable) -> None:
        if self.log_group is not None:
            self.log_group.grant_read(role)
        if self.bucket is not None:
            self._grant_bucket(role, ["s3:GetObject"])

    def _grant_bucket(self, role: iam.IGrantable, object_actions: list[str]) -> None:
        # Exact actions on the log prefix only (Bucket.grant_* would add s3:List*, s3:DeleteObject*...).
        assert self.bucket is not None
        role.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=object_actions, resources=[self.bucket.arn_for_objects(f"{PREFIX}/*")])
        )
        role.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": f"{PREFIX}/*"}},
            )
        )
