"""Secrets are generated at deploy time and reach containers only through ECS `secrets`."""

from __future__ import annotations

import re

import pytest

from tests.infrastructure.templates import DEPLOYMENTS, airflow_containers, container, resources

COMMON_SECRETS = {
    "AIRFLOW_DB_HOST": ":host::",
    "AIRFLOW_DB_PORT": ":port::",
    "AIRFLOW_DB_USER": ":username::",
    "AIRFLOW_DB_PASSWORD": ":password::",
    "AIRFLOW_DB_NAME": ":dbname::",
    "AIRFLOW_FERNET_SEED": None,
    "AIRFLOW__API_AUTH__JWT_SECRET": None,
    "AIRFLOW__API__SECRET_KEY": None,
}
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "worker", "standalone")
SECRET_LOOKING = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|PRIVATE", re.IGNORECASE)


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_every_secret_is_generated_never_written_in_the_template(raw_templates, deployment):
    secrets = resources(raw_templates[deployment], "AWS::SecretsManager::Secret")
    assert len(secrets) == 5  # four Airflow secrets and the database credentials
    for name, secret in secrets.items():
        assert "SecretString" not in secret["Properties"], name
        assert "GenerateSecretString" in secret["Properties"], name


@pytest.mark.parametrize("component", COMPONENTS)
def test_containers_receive_secrets_through_ecs_secrets_only(raw_templates, component):
    template = raw_templates["dev"]
    definition = container(template, component)
    secrets = {s["Name"]: s["ValueFrom"] for s in definition["Secrets"]}
    for name, json_key in COMMON_SECRETS.items():
        assert name in secrets, name
        if json_key:
            # A field of the RDS-generated secret (through its attachment, which carries the host).
            parts = secrets[name]["Fn::Join"][1]
            assert (
                parts[1] == json_key
                and template["Resources"][parts[0]["Ref"]]["Type"] == "AWS::SecretsManager::SecretTargetAttachment"
            )
        else:
            assert template["Resources"][secrets[name]["Ref"]]["Type"] == "AWS::SecretsManager::Secret"
    environment = {e["Name"]: e["Value"] for e in definition["Environment"]}
    assert not set(environment) & set(secrets)
    assert [name for name in environment if SECRET_LOOKING.search(name)] == []


def test_only_the_standalone_task_gets_the_admin_password(raw_templates):
    template = raw_templates["dev"]
    for component in COMPONENTS:
        names = {s["Name"] for s in container(template, component)["Secrets"]}
        assert ("AIRFLOW_ADMIN_PASSWORD" in names) == (component == "standalone"), component


def _literals(value) -> list[str]:
    """The literal text in an environment value (tokens such as Ref are references, not values)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and "Fn::Join" in value:
        return [part for part in value["Fn::Join"][1] if isinstance(part, str)]
    return []


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_no_environment_value_looks_like_a_secret(raw_templates, deployment):
    # Long names that are not secrets: the package, and the metric namespace (Airflow/<name>).
    known = ("deploy_airflow_on_ecs_fargate", f"Airflow/{DEPLOYMENTS[deployment].name}")
    for task in resources(raw_templates[deployment], "AWS::ECS::TaskDefinition").values():
        # The CloudWatch agent's only variable is its JSON configuration, long key names and all
        # (test_observability.py checks it is exactly what metrics_agent.py writes).
        for definition in airflow_containers(task["Properties"]):
            for variable in definition.get("Environment", []):
                for text in _literals(variable["Value"]):
                    for name in known:
                        text = text.replace(name, "")
                    assert not re.search(r"[A-Za-z0-9+/=_-]{24,}", text), variable
