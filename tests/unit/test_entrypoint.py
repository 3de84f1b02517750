"""The entrypoint's error paths, run as the containers run it: a real process, exit code and stderr."""

import subprocess
import sys

import pytest

from deploy_airflow_on_ecs_fargate.components import command_for
from deploy_airflow_on_ecs_fargate.settings import load_settings
from tests.conftest import REPO_ROOT, free_port


def run_entrypoint(args, environment, timeout=30):
    return subprocess.run(
        [sys.executable, "-m", "deploy_airflow_on_ecs_fargate", *args],
        env={"PATH": "/usr/bin:/bin", **environment},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_missing_variable_stops_with_one_line_and_exit_2(valid_environment):
    valid_environment.pop("AIRFLOW_SQS_QUEUES")
    result = run_entrypoint(["worker"], valid_environment)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "deploy_airflow_on_ecs_fargate: error: AIRFLOW_SQS_QUEUES is not set: expected a JSON object of queue "
        'name to SQS URL, e.g. {"default": "https://sqs..."}'
    ]


def test_unknown_component_is_rejected_by_name(valid_environment):
    result = run_entrypoint(["webserver"], valid_environment)
    assert result.returncode == 2
    assert "invalid choice: 'webserver'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_waited_for_then_reported_in_one_line(valid_environment):
    valid_environment.update(AIRFLOW_DB_HOST="127.0.0.1", AIRFLOW_DB_PORT=str(free_port()), AIRFLOW_DB_WAIT_SECONDS="2")
    result = run_entrypoint(["scheduler"], valid_environment)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("deploy_airflow_on_ecs_fargate: error: metadata database 127.0.0.1:")
    assert "not reachable after 2 s" in last
    assert "Traceback" not in result.stderr


def test_database_that_answers_is_not_waited_for(valid_environment, postgres_port):
    from deploy_airflow_on_ecs_fargate.database import wait_for_database

    url = f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{postgres_port}/airflow"
    assert wait_for_database(url, timeout=5) < 1


@pytest.mark.parametrize(
    ("component", "expected_tail"),
    [
        ("api-server", ["api-server"]),
        ("scheduler", ["scheduler"]),
        ("dag-processor", ["dag-processor"]),
        ("triggerer", ["triggerer"]),
        ("worker", ["celery", "worker", "--queues", "default,high"]),
    ],
)
def test_each_component_maps_to_its_airflow_command(valid_environment, component, expected_tail):
    valid_environment["AIRFLOW_SQS_QUEUES"] = '{"default": "https://sqs/1/d", "high": "https://sqs/1/h"}'
    command = command_for(load_settings(component, valid_environment), [])
    assert command[:3] == [sys.executable, "-m", "deploy_airflow_on_ecs_fargate.airflow_cli"]
    assert command[3:] == expected_tail


def test_airflow_passthrough_keeps_the_arguments(valid_environment):
    command = command_for(load_settings("airflow", valid_environment), ["dags", "list", "-o", "json"])
    assert command[3:] == ["dags", "list", "-o", "json"]


def test_a_misspelt_optional_variable_is_named_with_the_right_one(valid_environment):
    # AIRFLOW_DB_WAIT_SECONDS has a default, so the typo alone would go unnoticed.
    valid_environment.update(AIRFLOW_DB_HOST="127.0.0.1", AIRFLOW_DB_PORT=str(free_port()), AIRFLOW_DB_WAIT_SECOND="0")
    result = run_entrypoint(["scheduler"], {**valid_environment, "AIRFLOW_DB_WAIT_SECONDS": "1"})
    assert (
        "deploy_airflow_on_ecs_fargate: warning: AIRFLOW_DB_WAIT_SECOND is not a variable of the runtime contract "
        "and is ignored: did you mean AIRFLOW_DB_WAIT_SECONDS?"
    ) in result.stderr.splitlines()


def test_a_misspelt_required_variable_is_pointed_out(valid_environment):
    valid_environment["AIRFLOW_DB_HSOT"] = valid_environment.pop("AIRFLOW_DB_HOST")
    result = run_entrypoint(["scheduler"], valid_environment)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "deploy_airflow_on_ecs_fargate: error: AIRFLOW_DB_HOST is not set (AIRFLOW_DB_HSOT is: a typo?): "
        "expected the metadata database host name"
    ]


def test_a_refused_migration_lock_is_one_line(valid_environment, postgres_port):
    # The server answers, but refuses this user: the lock's connection fails inside `migrate`.
    valid_environment.update(
        AIRFLOW_DB_HOST="127.0.0.1",
        AIRFLOW_DB_PORT=str(postgres_port),
        AIRFLOW_DB_USER="nobody",
        AIRFLOW_DB_WAIT_SECONDS="0",
    )
    result = run_entrypoint(["migrate"], valid_environment)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (last,) = result.stderr.strip().splitlines()[-1:]
    assert last.startswith("deploy_airflow_on_ecs_fargate: error: metadata database 127.0.0.1:")
    assert "refused the migration lock" in last
