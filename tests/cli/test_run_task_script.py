"""scripts/run_task.py: the seed's command line, unchanged, runs through `airflow-ecs run-task`."""

from __future__ import annotations

import importlib.util

import pytest

from tests.cli import standin
from tests.cli.test_run_task import container_command, started_tasks
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("run_task_script", REPO_ROOT / "scripts" / "run_task.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seeds_command_line_works_with_the_stack_filling_in_the_rest(script, deployed, clients):
    # The seed's README: `run_task.py --public-subnet-ids subnet-*** --security-group sg-*** --command '...'`.
    code = script.main(
        [
            *("--public-subnet-ids", *deployed.subnets),
            *("--security-group", deployed.security_group),
            *("--command", "users create --username ada --firstname 'Ada L.' --role Admin"),
        ]
    )
    assert code == 0
    (task,) = started_tasks(clients)
    assert container_command(task) == [
        *("airflow", "users", "create", "--username", "ada", "--firstname", "Ada L.", "--role", "Admin")
    ]
    assert task["taskDefinitionArn"] == deployed.standalone_arn


def test_every_seed_flag_is_passed_on(script, deployed, clients, capsys):
    code = script.main(
        [
            *("--cluster", deployed.cluster, "--task-definition", deployed.standalone_family),
            *("--container-name", standin.STANDALONE_CONTAINER, "--public-subnet-ids", deployed.subnets[0]),
            *("--security-group", deployed.security_group, "--command", "db check"),
            *("--cpu", "1024", "--memory", "2048", "--capacity-provider", "FARGATE_SPOT", "--no-wait"),
        ]
    )
    assert code == 0
    (task,) = started_tasks(clients)
    assert task["capacityProviderName"] == "FARGATE_SPOT"
    assert task["overrides"]["cpu"] == "1024"
    assert capsys.readouterr().out.strip() == task["taskArn"]


def test_the_seeds_profile_flag_is_the_aws_profile(script, deployed, capsys):
    code = script.main(["--profile", "nobody", "--command", "dags list"])
    assert code == 2
    assert "AWS profile 'nobody' is not in your AWS configuration" in capsys.readouterr().err
