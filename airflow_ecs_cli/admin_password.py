"""The Airflow admin login of a deployment. The password is read from the secret the standalone
task definition hands to `create-admin` as the contract's admin password variable, so this is
exactly the secret every deploy sets the admin user to (no name is guessed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_ecs_cli.errors import OperatorError
from airflow_ecs_cli.outputs import StackOutputs
from deploy_airflow_on_ecs_fargate import contract

# arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX[:JSON-KEY:VERSION-STAGE:VERSION-ID]
SECRET_ARN_PARTS = 7


@dataclass(frozen=True)
class AdminLogin:
    username: str
    password: str
    secret_arn: str


def _standalone_container(ecs: Any, outputs: StackOutputs) -> dict:
    definition = ecs.describe_task_definition(taskDefinition=outputs.standalone_family)["taskDefinition"]
    for container in definition.get("containerDefinitions", []):
        if container.get("name") == outputs.standalone_container:
            return dict(container)
    raise OperatorError(
        f"task definition {outputs.standalone_family} has no container {outputs.standalone_container}: "
        "redeploy with `airflow-ecs deploy`"
    )


def _secret_reference(container: dict, outputs: StackOutputs) -> str:
    for secret in container.get("secrets", []):
        if secret.get("name") == contract.ADMIN_PASSWORD.name:
            return str(secret["valueFrom"])
    raise OperatorError(
        f"task definition {outputs.standalone_family} passes no {contract.ADMIN_PASSWORD.name}: "
        "redeploy with `airflow-ecs deploy`"
    )


def read(ecs: Any, secretsmanager: Any, outputs: StackOutputs) -> AdminLogin:
    container = _standalone_container(ecs, outputs)
    environment = {item["name"]: item["value"] for item in container.get("environment", [])}
    username = environment.get(contract.ADMIN_USERNAME.name, contract.ADMIN_USERNAME.default or "admin")
    reference = _secret_reference(container, outputs)
    parts = reference.split(":")
    secret_arn = ":".join(parts[:SECRET_ARN_PARTS])
    json_key = parts[SECRET_ARN_PARTS] if len(parts) > SECRET_ARN_PARTS else ""
    value = secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
    if json_key:
        value = json.loads(value)[json_key]
    return AdminLogin(username=username, password=str(value), secret_arn=secret_arn)
