"""Every task definition of every synthesized deployment, judged by the runtime itself.

For each container: the environment it would receive (its plain environment, with CloudFormation
references replaced by placeholders of the right shape, plus its secrets' names with the
contract's example values) must pass the runtime's own validation for the component it runs, and
every name in it must be one the contract or Airflow knows (tests/wiring.py). ECS adds the
contract's `set_by_ecs` variables (the region among them) to every task."""

from __future__ import annotations

import pytest

from deploy_airflow_on_ecs_fargate import contract
from tests import wiring
from tests.infrastructure.templates import DEPLOYMENTS, resources

# What a placeholder for a reference to a resource of each type looks like.
REF_PLACEHOLDERS = {
    "AWS::SQS::Queue": "https://sqs.us-east-1.amazonaws.com/123456789012/{id}",
}


def resolve(value, template: dict) -> str:
    """A CloudFormation value as a string, each reference replaced by a placeholder."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            resource_type = template["Resources"].get(argument, {}).get("Type", "")
            return REF_PLACEHOLDERS.get(resource_type, "ref-{id}").format(id=argument.lower())
        if function == "Fn::GetAtt":
            return f"{argument[0].lower()}.{argument[1].lower()}.example.com"
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(resolve(part, template) for part in parts)
    raise AssertionError(f"no placeholder for {value!r}: teach resolve() this intrinsic")


def containers(template: dict) -> dict[str, dict]:
    """Task definition logical id -> its only container."""
    found = {}
    for logical_id, task in resources(template, "AWS::ECS::TaskDefinition").items():
        (definition,) = task["Properties"]["ContainerDefinitions"]
        found[logical_id] = definition
    return found


def commands(template: dict, task_definition_id: str, definition: dict) -> list[str]:
    """What a task definition runs: its own command, and the command the deploy-time migration
    (and operators) give the standalone task."""
    runs = [definition["Command"][0]]
    for custom in resources(template, "Custom::AirflowMigrations").values():
        if custom["Properties"]["TaskDefinition"] == {"Ref": task_definition_id}:
            runs += [custom["Properties"]["Command"][0], *contract.ADMIN_STEPS, "migrate"]
    return runs


def container_environment(definition: dict, template: dict) -> tuple[dict[str, str], list[str]]:
    plain = {item["Name"]: resolve(item["Value"], template) for item in definition.get("Environment", [])}
    secrets = {
        item["Name"]: contract.variable(item["Name"]).example
        for item in definition.get("Secrets", [])
        if item["Name"] in contract.VARIABLES_BY_NAME
    }
    unknown_secrets = {
        item["Name"]: "x" for item in definition.get("Secrets", []) if item["Name"] not in contract.VARIABLES_BY_NAME
    }
    # What ECS adds to every task (the region among it).
    from_ecs = {variable.name: variable.example for variable in contract.SET_BY_ECS}
    return {**from_ecs, **plain, **secrets, **unknown_secrets}, list(plain)


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_every_container_would_start_with_what_its_task_definition_gives(raw_templates, deployment):
    template = raw_templates[deployment]
    found = []
    checked = set()
    for logical_id, definition in containers(template).items():
        environment, plain_names = container_environment(definition, template)
        for component in commands(template, logical_id, definition):
            checked.add(component)
            found += wiring.problems(component, environment, plain_names=plain_names, where=definition["Name"])
    assert found == []
    # Every long-running component of the catalogue has a task definition, and the migration runs.
    assert set(contract.LONG_RUNNING_NAMES) | {"init"} <= checked


def test_a_renamed_or_misspelt_variable_is_caught(raw_templates):
    # What the check above would say if a construct spelt one name differently.
    template = raw_templates["dev"]
    (worker,) = [d for d in containers(template).values() if d["Name"] == "worker"]
    environment, plain = container_environment(worker, template)
    environment["AIRFLOW_DB_HOSTNAME"] = environment.pop("AIRFLOW_DB_HOST")
    environment["AIRFLOW__CELERY__WORKER_CONCURENCY"] = "8"
    environment["AIRFLOW_ADMIN_PASSWORD"] = "in-plain-text"
    found = wiring.problems("worker", environment, plain_names=[*plain, "AIRFLOW_ADMIN_PASSWORD"])
    assert found[0].startswith("AIRFLOW_DB_HOSTNAME (did you mean ")
    assert found[1:] == [
        "AIRFLOW__CELERY__WORKER_CONCURENCY is not an Airflow option",
        "AIRFLOW_ADMIN_PASSWORD is a secret but is set in plain text",
        "worker would not start: AIRFLOW_DB_HOST is not set (AIRFLOW_DB_HOSTNAME is: a typo?): expected the "
        "metadata database host name",
    ]
