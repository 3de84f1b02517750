import base64

import pytest
from cryptography.fernet import Fernet

from deploy_airflow_on_ecs_fargate.settings import (
    AIRFLOW_DEFAULTS,
    ConfigurationError,
    fernet_key_from_seed,
    load_settings,
)


def test_database_url_is_assembled_from_parts_with_special_characters_escaped(valid_environment):
    settings = load_settings("worker", valid_environment)
    assert settings.database_url == "postgresql+psycopg2://airflow:p%40ss%3Aw%2Frd%231@db.example.internal:5432/airflow"


def test_explicit_sqlalchemy_conn_replaces_the_parts(valid_environment):
    environment = {k: v for k, v in valid_environment.items() if not k.startswith("AIRFLOW_DB_")}
    environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql://u:p@h/d"
    assert load_settings("scheduler", environment).database_url == "postgresql://u:p@h/d"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AIRFLOW_DB_HOST", None, "AIRFLOW_DB_HOST is not set: expected the metadata database host name"),
        ("AIRFLOW_DB_PORT", "five", "AIRFLOW_DB_PORT is not a whole number: got 'five'"),
        ("AIRFLOW_DB_PORT", "70000", "AIRFLOW_DB_PORT is out of range: got 70000, expected 1 to 65535"),
        ("AIRFLOW_FERNET_SEED", "short", "AIRFLOW_FERNET_SEED is too short (5 characters): expected at least 32"),
        ("AIRFLOW__API_AUTH__JWT_SECRET", None, "AIRFLOW__API_AUTH__JWT_SECRET is not set"),
        ("AIRFLOW__API__SECRET_KEY", "x" * 10, "AIRFLOW__API__SECRET_KEY is too short (10 characters)"),
        ("AIRFLOW_API_SERVER_URL", None, "AIRFLOW_API_SERVER_URL is not set"),
        ("AIRFLOW_API_SERVER_URL", "api-server:8080", "AIRFLOW_API_SERVER_URL is not an http(s) URL"),
        ("AIRFLOW_SQS_QUEUES", None, "AIRFLOW_SQS_QUEUES is not set"),
        ("AIRFLOW_SQS_QUEUES", "[1, 2]", "AIRFLOW_SQS_QUEUES is not a JSON object of queue name to URL"),
        ("AIRFLOW_SQS_QUEUES", "{not json", "AIRFLOW_SQS_QUEUES is not a JSON object of queue name to URL"),
        ("AIRFLOW_SQS_QUEUES", '{"high": "https://sqs/1/q"}', "AIRFLOW_SQS_QUEUES has no 'default' queue"),
        ("AIRFLOW_SQS_QUEUES", '{"default": "sqs-queue"}', "AIRFLOW_SQS_QUEUES['default'] is not an http(s) URL"),
        ("AWS_REGION", None, "AWS_REGION is not set"),
        ("AIRFLOW_SQS_VISIBILITY_TIMEOUT", "99999", "AIRFLOW_SQS_VISIBILITY_TIMEOUT is out of range"),
        ("AIRFLOW_SQS_WAIT_TIME_SECONDS", "21", "AIRFLOW_SQS_WAIT_TIME_SECONDS is out of range"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_is_expected(valid_environment, variable, value, message):
    if value is None:
        valid_environment.pop(variable)
    else:
        valid_environment[variable] = value
    with pytest.raises(ConfigurationError) as error:
        load_settings("worker", valid_environment)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_every_long_running_component_needs_the_broker_but_one_shot_steps_do_not(valid_environment):
    for name in ("AIRFLOW_SQS_QUEUES", "AWS_REGION", "AIRFLOW_API_SERVER_URL"):
        valid_environment.pop(name)
    assert load_settings("migrate", valid_environment).broker is None
    # They all load the Celery executor, whose configuration reads the queues at import.
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        with pytest.raises(ConfigurationError, match="AIRFLOW_SQS_QUEUES"):
            load_settings(component, valid_environment)


def test_admin_steps_need_the_admin_password(valid_environment):
    with pytest.raises(ConfigurationError, match="AIRFLOW_ADMIN_PASSWORD is not set"):
        load_settings("init", valid_environment)
    valid_environment["AIRFLOW_ADMIN_PASSWORD"] = "secret-admin"
    settings = load_settings("create-admin", valid_environment)
    assert (settings.admin_username, settings.admin_password) == ("admin", "secret-admin")


def test_unknown_component_lists_the_valid_ones(valid_environment):
    with pytest.raises(ConfigurationError, match="unknown component 'webserver': expected one of api-server"):
        load_settings("webserver", valid_environment)


def test_fernet_key_from_seed_is_a_working_fernet_key_and_stable():
    key = fernet_key_from_seed("a" * 32)
    assert key == fernet_key_from_seed("a" * 32) != fernet_key_from_seed("b" * 32)
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"connection password")) == b"connection password"


def test_explicit_fernet_key_must_be_valid(valid_environment):
    valid_environment["AIRFLOW__CORE__FERNET_KEY"] = "not-a-key"
    with pytest.raises(ConfigurationError, match="AIRFLOW__CORE__FERNET_KEY is not a Fernet key"):
        load_settings("worker", valid_environment)
    valid_environment["AIRFLOW__CORE__FERNET_KEY"] = base64.urlsafe_b64encode(b"k" * 32).decode()
    assert load_settings("worker", valid_environment).fernet_key == valid_environment["AIRFLOW__CORE__FERNET_KEY"]


def test_airflow_environment_derives_values_and_lets_the_user_override_defaults(valid_environment):
    valid_environment["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] = "2"
    settings = load_settings("worker", valid_environment)
    environment = settings.airflow_environment(valid_environment)
    assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://api-server:8080/execution/"
    assert environment["AIRFLOW__CORE__FERNET_KEY"] == fernet_key_from_seed("f" * 32)
    assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == settings.database_url
    assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert environment["AIRFLOW__CORE__AUTH_MANAGER"] == AIRFLOW_DEFAULTS["AIRFLOW__CORE__AUTH_MANAGER"]
    assert environment["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] == "2"
    assert environment["AWS_DEFAULT_REGION"] == "us-east-1"


def test_only_the_admin_step_syncs_fab_permissions(valid_environment):
    valid_environment["AIRFLOW_ADMIN_PASSWORD"] = "secret-admin"
    api = load_settings("api-server", valid_environment).airflow_environment(valid_environment)
    admin = load_settings("create-admin", valid_environment).airflow_environment(valid_environment)
    assert api["AIRFLOW__FAB__UPDATE_FAB_PERMS"] == "False"
    assert "AIRFLOW__FAB__UPDATE_FAB_PERMS" not in admin  # Airflow's default: True


def test_one_listen_address_for_every_server_of_a_component(valid_environment):
    everywhere = load_settings("scheduler", valid_environment).airflow_environment(valid_environment)
    assert (
        everywhere["AIRFLOW__API__HOST"]
        == everywhere["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST"]
        == "0.0.0.0"
    )
    assert "AIRFLOW__CORE__HOSTNAME_CALLABLE" not in everywhere  # Airflow's default: the host's name
    valid_environment["AIRFLOW_LISTEN_ADDRESS"] = "127.0.0.1"
    loopback = load_settings("scheduler", valid_environment).airflow_environment(valid_environment)
    assert (
        loopback["AIRFLOW__API__HOST"]
        == loopback["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST"]
        == "127.0.0.1"
    )
    # Peers fetch a running task's log from the recorded host name: it must be the bound address.
    assert (
        loopback["AIRFLOW__CORE__HOSTNAME_CALLABLE"]
        == "deploy_airflow_on_ecs_fargate.listen_address.advertised_hostname"
    )


def test_the_contract_ports_are_explicit_and_can_be_moved(valid_environment):
    environment = load_settings("worker", valid_environment).airflow_environment(valid_environment)
    assert environment["AIRFLOW__API__PORT"] == "8080"
    assert environment["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "8793"
    valid_environment["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = "18793"
    assert (
        load_settings("worker", valid_environment).airflow_environment(valid_environment)[
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"
        ]
        == "18793"
    )
    valid_environment["AIRFLOW__API__PORT"] = "http"
    with pytest.raises(
        ConfigurationError, match=r"^AIRFLOW__API__PORT is not a TCP port: got 'http', expected 1 to 65535$"
    ):
        load_settings("worker", valid_environment)
