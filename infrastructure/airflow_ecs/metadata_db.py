"""Airflow's metadata database (the seed's airflow_metadata_db.tf): RDS PostgreSQL.

Credentials are generated into a Secrets Manager secret whose JSON fields (host, port, username,
password, dbname) the tasks receive as AIRFLOW_DB_* through ECS `secrets`. The instance sits in
isolated subnets; its security group admits only the Airflow tasks' groups (the stack adds them).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from constructs import Construct

from airflow_ecs.settings import DeploymentSettings

DATABASE_NAME = "airflow"
DATABASE_USER = "airflow"


class MetadataDatabase(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: DeploymentSettings,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
    ) -> None:
        super().__init__(scope, id)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description=f"{settings.name} metadata database", allow_all_outbound=False
        )
        major = settings.db_engine_version.split(".")[0]
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            engine=rds.DatabaseInstanceEngine.postgres(
                version=rds.PostgresEngineVersion.of(settings.db_engine_version, major)
            ),
            instance_type=ec2.InstanceType(settings.db_instance_type),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            publicly_accessible=False,
            database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(DATABASE_USER),
            storage_type=rds.StorageType.GP3,
            allocated_storage=settings.db_allocated_storage_gib,
            max_allocated_storage=settings.db_max_allocated_storage_gib,
            storage_encrypted=True,
            multi_az=settings.db_multi_az,
            backup_retention=Duration.days(settings.db_backup_retention_days),
            deletion_protection=settings.db_deletion_protection,
            # SNAPSHOT takes a final snapshot when the instance is deleted; dev drops it.
            removal_policy=RemovalPolicy.SNAPSHOT if settings.removal_protected else RemovalPolicy.DESTROY,
            auto_minor_version_upgrade=True,
            enable_performance_insights=False,
        )
        assert self.instance.secret is not None
        self.secret = self.instance.secret
