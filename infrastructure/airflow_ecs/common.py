"""Small helpers shared by several constructs."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from airflow_ecs.settings import LOG_RETENTION_DAYS

# RetentionDays lists CloudWatch's allowed periods in ascending order, like LOG_RETENTION_DAYS.
_RETENTION = dict(zip(LOG_RETENTION_DAYS, [member for member in logs.RetentionDays if member.name != "INFINITE"]))


def retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a day count validated by the settings."""
    return _RETENTION[days]


def private_log_bucket(scope: Construct, id: str, *, expire_after_days: int) -> s3.Bucket:
    """A bucket for logs: SSE-S3 (the only encryption ALB access logs support), no public access,
    TLS only, objects expire. Retained on stack deletion: CloudFormation cannot delete a bucket
    with objects; empty it and delete it by hand."""
    return s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(expire_after_days))],
        removal_policy=RemovalPolicy.RETAIN,
    )
