"""ECS cluster (the seed's ecs_cluster.tf): Fargate and Fargate Spot, Container Insights (a setting:
billed as custom metrics per cluster, service and task family), ECS Exec."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

from airflow_ecs.common import retention
from airflow_ecs.settings import DeploymentSettings


class Cluster(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: DeploymentSettings, vpc: ec2.IVpc) -> None:
        super().__init__(scope, id)
        # Sessions of `aws ecs execute-command` are recorded here (who ran what, for audit).
        self.exec_log_group = logs.LogGroup(
            self,
            "ExecSessions",
            retention=retention(settings.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=settings.name,
            vpc=vpc,
            enable_fargate_capacity_providers=True,
            container_insights_v2=(
                ecs.ContainerInsights.ENABLED if settings.container_insights else ecs.ContainerInsights.DISABLED
            ),
            execute_command_configuration=ecs.ExecuteCommandConfiguration(
                logging=ecs.ExecuteCommandLogging.OVERRIDE,
                log_configuration=ecs.ExecuteCommandLogConfiguration(
                    cloud_watch_log_group=self.exec_log_group,
                ),
            ),
        )
