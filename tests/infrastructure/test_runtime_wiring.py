"""Every task definition of every synthesized deployment, judged by the runtime itself.

For each container of each task definition (the control-plane task has four): the environment it
would receive (its plain environment, with CloudFormation
references replaced by placeholders of the right shape, plus its secrets' names with the
contract's example values) must pass the runtime's own validation for the component it runs, and
every name in it must be one the contract or Airflow knows (tests/wiring.py). ECS adds the
contract's `set_by_ecs` variables (the region among them) to every task."""

from __future__ import annotations

import json

import pytest

from deploy_airflow_on_ecs_fargate import contract
from tests import wiring
from tests.infrastructure.templates import DEPLOYMENTS, airflow_containers, resources

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


def containers(template: dict) -> list[tuple[str, dict]]:
    """(task definition logical id, container definition) for every Airflow container of every task
    definition (the CloudWatch agent beside some runs no Airflow: test_observability.py)."""
    return [
        (logical_id, definition)
        for logical_id, task in resources(template, "AWS::ECS::TaskDefinition").items()
        for definition in airflow_containers(task["Properties"])
    ]


def commands(template: dict, task_definition_id: str, definition: dict) -> list[str]:
    """What a task definition runs: its own command, and the commands the deploy-time migration
    (and operators) and the schedules (db-clean) give the standalone task."""
    runs = [definition["Command"][0]]
    for custom in resources(template, "Custom::AirflowMigrations").values():
        if custom["Properties"]["TaskDefinition"] == {"Ref": task_definition_id}:
            runs += [custom["Properties"]["Command"][0], *contract.ADMIN_STEPS, "migrate"]
    for schedule in resources(template, "AWS::Scheduler::Schedule").values():
        target = schedule["Properties"]["Target"]
        if target.get("EcsParameters", {}).get("TaskDefinitionArn") == {"Ref": task_definition_id}:
            overrides = json.loads(target["Input"])["containerOverrides"]
            runs += [override["command"][0] for override in overrides if override["name"] == definition["Name"]]
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
    for logical_id, definition in containers(template):
        environment, plain_names = container_environment(definition, template)
        runs = commands(template, logical_id, definition)
        # A long-running component's container is named after what it runs (the operator tool
        # finds it by that name, e.g. `airflow-ecs exec scheduler`).
        if runs[0] in contract.LONG_RUNNING_NAMES:
            assert definition["Name"] == runs[0]
        for component in runs:
            checked.add(component)
            found += wiring.problems(component, environment, plain_names=plain_names, where=definition["Name"])
    assert found == []
    # Every long-running component of the catalogue has a container, the migration and (when
    # scheduled) the cleanup run.
    cleanup = {"db-clean"} if DEPLOYMENTS[deployment].db_clean is not None else set()
    assert set(contract.LONG_RUNNING_NAMES) | {"init"} | cleanup <= checked


def test_the_control_plane_task_runs_each_component_in_its_own_container(raw_templates):
    # The check above must see all four, not only the first container of the shared task.
    names = [d["Name"] for _, d in containers(raw_templates["dev"])]
    assert {"api-server", "scheduler", "dag-processor", "triggerer"} <= set(names)
    assert len(names) == len(set(names)) == len(contract.LONG_RUNNING_NAMES) + 1  # and standalone


def test_a_renamed_or_misspelt_variable_is_caught(raw_templates):
    # What the check above would say if a construct spelt one name differently.
    template = raw_templates["dev"]
    (worker,) = [d for _, d in containers(template) if d["Name"] == "worker"]
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


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_every_scheduler_sleeps_and_wakes_as_measured_on_the_local_stack(raw_templates, deployment):
    """Issue 14: the scheduler of every deployment runs through airflow_cli (which installs the
    wake-up on PostgreSQL notifications and the pacing of busy loops) with the runtime's idle sleep,
    which no task definition overrides (decisions 0082 and 0084)."""
    from deploy_airflow_on_ecs_fargate.components import command_for
    from deploy_airflow_on_ecs_fargate.settings import AIRFLOW_DEFAULTS, load_settings

    idle_sleep = "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"
    schedulers = 0
    for logical_id, definition in containers(raw_templates[deployment]):
        if commands(raw_templates[deployment], logical_id, definition)[0] != "scheduler":
            continue
        schedulers += 1
        environment, _ = container_environment(definition, raw_templates[deployment])
        settings = load_settings("scheduler", environment)
        assert settings.airflow_environment(environment)[idle_sleep] == AIRFLOW_DEFAULTS[idle_sleep] == "1"
        assert command_for(settings, [])[1:4] == ["-m", f"{contract.PACKAGE}.airflow_cli", "scheduler"]
    assert schedulers >= 1
