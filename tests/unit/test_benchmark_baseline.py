"""The benchmark's baseline is plain Airflow: no project code, the two tunings, the same load limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from local_stack import baseline
from local_stack.baseline import LOAD_OPTIONS, TUNINGS, BaselineStack, Ports, baseline_environment
from local_stack.paths import StackPaths

LOAD = {
    "AIRFLOW__CORE__PARALLELISM": "64",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "24",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "12",
}
PORTS = Ports(api=18080, postgres=15499, sqs=19399, worker_logs=18793, trigger_logs=18794)
# A shell that a developer may have: the project's own settings must not leak into the baseline.
SHELL = {
    "PATH": "/usr/bin",
    "HOME": "/root",
    "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "deploy_airflow_on_ecs_fargate.celery_config.CELERY_CONFIG",
    "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": "deploy_airflow_on_ecs_fargate.logging_config.LOGGING_CONFIG",
    "AIRFLOW_SQS_QUEUES": "{}",
    "LOCAL_STACK_HOME": "/elsewhere",
    "AWS_PROFILE": "real-account",
    "PYTHONPATH": "/work/main",
}


def environment(tmp_path: Path) -> dict[str, str]:
    return baseline_environment(StackPaths(tmp_path), PORTS, LOAD, SHELL)


def test_no_setting_names_or_loads_a_module_of_this_project(tmp_path):
    env = environment(tmp_path)
    for name, value in env.items():
        for module in baseline.PROJECT_MODULES:
            assert module not in value, f"{name}={value} brings {module} into plain Airflow"
    assert "PYTHONPATH" not in env
    assert "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS" not in env  # Airflow's own default Celery config
    assert "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS" not in env
    assert not any(name.startswith(("LOCAL_STACK", "AWS_PROFILE")) for name in env)
    assert not any(
        name.startswith("AIRFLOW_") and not name.startswith("AIRFLOW__") for name in env if name != "AIRFLOW_HOME"
    )


def test_the_components_are_the_plain_airflow_commands():
    for name in baseline.COMPONENTS:
        command = baseline.airflow_command(*baseline.COMMANDS[name])
        assert Path(command[0]).name == "airflow"
        assert Path(command[0]).parent == Path(sys.executable).parent  # the same virtualenv
        assert not any(module in " ".join(command) for module in baseline.PROJECT_MODULES)


def test_it_has_the_two_tunings_and_the_same_load_limits(tmp_path):
    env = environment(tmp_path)
    assert env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] == "0.2"
    assert env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__POLLING_INTERVAL"] == "0.1"
    assert {name: env[name] for name in TUNINGS} == TUNINGS
    assert {name: env[name] for name in LOAD_OPTIONS} == LOAD


def test_it_uses_its_own_ports_broker_database_and_home(tmp_path):
    env = environment(tmp_path)
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert ":15499/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
    queues = json.loads(env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__PREDEFINED_QUEUES"])
    assert queues["default"]["url"].startswith("http://127.0.0.1:19399/")
    assert env["AWS_ENDPOINT_URL_SQS"] == "http://127.0.0.1:19399"


def test_airflow_reads_the_configuration_as_a_user_would_expect(tmp_path):
    """Airflow's own default Celery config, built from these variables alone."""
    env = {**environment(tmp_path), "PATH": os.environ["PATH"]}
    program = (
        "import json; from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG as c\n"
        "print(json.dumps({'options': c['broker_transport_options'], 'concurrency': c['worker_concurrency'],"
        " 'backend': c['result_backend']}))"
    )
    result = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True)
    config = json.loads(result.stdout.strip().splitlines()[-1])
    assert config["options"]["polling_interval"] == 0.1
    assert config["options"]["predefined_queues"]["default"]["url"].endswith("/airflow-default")
    assert config["concurrency"] == 12
    assert config["backend"].startswith("db+postgresql://")
    imports = (
        "import json, sys; import airflow.providers.celery.executors.default_celery\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {baseline.PROJECT_MODULES!r})))"
    )
    loaded = subprocess.run([sys.executable, "-c", imports], env=env, capture_output=True, text=True, check=True)
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == []


def test_stop_without_a_start_stops_nothing_and_does_not_fail(tmp_path):
    stack = BaselineStack(tmp_path / "baseline", LOAD, SHELL)
    stack.stop()
    assert not (tmp_path / "baseline" / "postgres" / "data" / "postmaster.pid").exists()
