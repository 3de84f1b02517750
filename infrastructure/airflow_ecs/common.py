"""Small helpers shared by several constructs."""

from __future__ import annotations

from aws_cdk import aws_logs as logs

from airflow_ecs.settings import LOG_RETENTION_DAYS

# RetentionDays lists CloudWatch's allowed periods in ascending order, like LOG_RETENTION_DAYS.
_RETENTION = dict(zip(LOG_RETENTION_DAYS, [member for member in logs.RetentionDays if member.name != "INFINITE"]))


def retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a day count validated by the settings."""
    return _RETENTION[days]
