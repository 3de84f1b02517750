"""Task definition for one-off commands (the seed's airflow_standalone_task.tf).

Operators run it with a command override (`["airflow", "dags", "list"]`, `["create-admin"]`);
the deploy runs it with `["init"]` to migrate the database. It has its own security group, and it
is the only task that receives the admin password.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from airflow_ecs.airflow_task import AirflowRuntime, AirflowTaskDefinition, ContainerSpec
from deploy_airflow_on_ecs_fargate import contract

CONTAINER_NAME = "standalone"


class StandaloneTask(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        runtime: AirflowRuntime,
        vpc: ec2.IVpc,
        admin_password: ecs.Secret,
    ) -> None:
        super().__init__(scope, id)
        settings = runtime.settings
        self.task = AirflowTaskDefinition(
            self,
            "Task",
            runtime=runtime,
            family=CONTAINER_NAME,
            size=settings.standalone,
            containers=[
                ContainerSpec(
                    name=CONTAINER_NAME,
                    # Harmless default; every real use overrides the command.
                    command=["airflow", "version"],
                    health_component=None,
                    extra_environment={
                        contract.ADMIN_USERNAME.name: settings.admin_username,
                        contract.ADMIN_EMAIL.name: settings.admin_email,
                        # The scheduled `db-clean` and a hand-run one keep the same rows (db_clean.py).
                        **(
                            {contract.DB_CLEAN_RETENTION_DAYS.name: str(settings.db_clean.retention_days)}
                            if settings.db_clean is not None
                            else {}
                        ),
                    },
                    extra_secrets={contract.ADMIN_PASSWORD.name: admin_password},
                )
            ],
        )
        self.task_definition = self.task.task_definition
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description=f"{settings.name} standalone task", allow_all_outbound=True
        )
        self.connections = ec2.Connections(security_groups=[self.security_group])
