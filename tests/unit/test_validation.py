"""What `make up` judges before it starts anything (local_stack/validation.py)."""

from __future__ import annotations

import pytest

from local_stack import validation
from local_stack.environment import component_environment
from local_stack.paths import StackPaths
from local_stack.settings import LocalSettings

# The shape of Airflow's `conf.configuration_description`, trimmed to what the checks read.
DESCRIPTION = {
    "scheduler": {
        "options": {
            "task_queued_timeout": {"type": "float", "default": "600.0"},
            "parsing_processes": {"type": "integer", "default": "2"},
            "enable_health_check": {"type": "boolean", "default": "False"},
        }
    },
    "core": {"options": {"dags_folder": {"type": "string"}, "fernet_key": {"type": "string"}}},
    "celery_broker_transport_options": {"options": {}},
}
DEPRECATED = {"scheduler.dag_dir_list_interval": ("dag_processor", "refresh_interval")}


def test_good_settings_pass():
    settings = {
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
        "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "4",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__CORE__DAGS_FOLDER": "/anything",
        # A command or a secret's name, not the value: not judged by the option's type.
        "AIRFLOW__CORE__FERNET_KEY_CMD": "cat /run/key",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__ANYTHING": "free-form",
        # Still read by Airflow, which names the new option itself.
        "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "30",
    }
    assert validation.option_problems(settings, DESCRIPTION, DEPRECATED) == []


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        (
            "AIRFLOW__SCHEDULER__TASK_QUEUD_TIMEOUT",
            "90",
            "AIRFLOW__SCHEDULER__TASK_QUEUD_TIMEOUT is not an Airflow option (did you mean "
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT?): fix the name, or unset it",
        ),
        (
            "AIRFLOW__NOSUCH__THING",
            "1",
            "AIRFLOW__NOSUCH__THING is not an Airflow option (see `airflow config list --defaults`): "
            "fix the name, or unset it",
        ),
        (
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT",
            "ten minutes",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT='ten minutes' is not a valid float for Airflow's "
            "[scheduler] task_queued_timeout: give one, e.g. 600.0",
        ),
        (
            "AIRFLOW__SCHEDULER__PARSING_PROCESSES",
            "2.5",
            "AIRFLOW__SCHEDULER__PARSING_PROCESSES='2.5' is not a valid integer for Airflow's "
            "[scheduler] parsing_processes: give one, e.g. 2",
        ),
        (
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK",
            "yes",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK='yes' is not a valid boolean for Airflow's "
            "[scheduler] enable_health_check: give one, e.g. False",
        ),
        (
            "AIRFLOW__SCHEDULER",
            "1",
            "AIRFLOW__SCHEDULER is not of the form AIRFLOW__SECTION__KEY: rename it, or unset it",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_fix(name, value, problem):
    assert validation.option_problems({name: value}, DESCRIPTION, DEPRECATED) == [problem]


def test_the_dags_folder_must_exist(tmp_path):
    validation.check_folders({"AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path)})
    with pytest.raises(validation.ValidationError) as error:
        validation.check_folders({"AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "missing")})
    assert str(error.value) == (
        f"AIRFLOW__CORE__DAGS_FOLDER={tmp_path / 'missing'} is not a folder: create it, or point "
        "AIRFLOW__CORE__DAGS_FOLDER at the folder of your DAG files"
    )


def test_the_runtime_judges_every_component_before_anything_starts(tmp_path):
    paths = StackPaths(tmp_path)
    paths.create()
    environment = component_environment(paths, LocalSettings.from_environment({}), {})
    validation.check_components(environment)
    with pytest.raises(validation.ValidationError, match=r"^AIRFLOW_SQS_WAIT_TIME_SECONDS is out of range"):
        validation.check_components({**environment, "AIRFLOW_SQS_WAIT_TIME_SECONDS": "60"})


def test_airflows_own_list_is_read_in_a_child_process(tmp_path):
    """The real list: Airflow's options and its providers' ([celery] comes from the provider)."""
    paths = StackPaths(tmp_path)
    paths.create()
    environment = component_environment(paths, LocalSettings.from_environment({}), {})
    validation.check_airflow_settings(environment, {"AIRFLOW__CELERY__TASK_PUBLISH_MAX_RETRIES": "10"})
    validation.check_airflow_settings(environment, {})  # nothing set: no child process at all
    with pytest.raises(validation.ValidationError) as error:
        validation.check_airflow_settings(
            environment,
            {"AIRFLOW__CELERY__TASK_PUBLISH_MAX_RETRIES": "many", "AIRFLOW__SCHEDULER__TASK_QUEUD_TIMEOUT": "1"},
        )
    assert str(error.value) == (
        "AIRFLOW__CELERY__TASK_PUBLISH_MAX_RETRIES='many' is not a valid integer for Airflow's [celery] "
        "task_publish_max_retries: give one, e.g. 3 (and 1 more)"
    )
