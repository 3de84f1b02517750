"""Celery broker (the seed's celery_broker.tf): one SQS queue, `default`, Airflow's Celery queue.

VisibilityTimeout is the setting `sqs_visibility_timeout_seconds`, handed to every component as
the contract's AIRFLOW_SQS_VISIBILITY_TIMEOUT so both sides agree (kombu does not set it on a
predefined queue). With acks_late a message is acknowledged when its task ends; if its worker
dies, SQS hands the message out again after this timeout. Airflow 3's execution API refuses to
start a task instance that is already running, so a premature redelivery of a long task fails
harmlessly but wastes a worker slot; a task lost with its worker is recovered by Airflow's task
heartbeat timeout and retries, not by redelivery. Hence a long default (6 h).
"""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from airflow_ecs.settings import DeploymentSettings
from deploy_airflow_on_ecs_fargate import contract


class CeleryBroker(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: DeploymentSettings) -> None:
        super().__init__(scope, id)
        self.visibility_timeout_seconds = settings.sqs_visibility_timeout_seconds
        self.default_queue = sqs.Queue(
            self,
            "DefaultQueue",
            queue_name=f"{settings.name}-default",
            visibility_timeout=Duration.seconds(self.visibility_timeout_seconds),
            # Longest retention: queued work survives a weekend with the workers scaled to zero.
            retention_period=Duration.days(14),
            # Long polling by default, matching the workers' receive wait.
            receive_message_wait_time=Duration.seconds(int(contract.SQS_WAIT_TIME_SECONDS.default or 0)),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # Messages are transient: Airflow's database holds the state.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.queues = {"default": self.default_queue}

    def environment(self) -> dict[str, str]:
        """The contract's broker variables (docs/runtime-contract.md)."""
        return {
            contract.SQS_QUEUES.name: json.dumps({name: queue.queue_url for name, queue in self.queues.items()}),
            contract.SQS_VISIBILITY_TIMEOUT.name: str(self.visibility_timeout_seconds),
        }
