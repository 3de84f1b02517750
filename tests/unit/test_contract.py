"""The runtime contract as data: consistent with itself, with the runtime and with Airflow."""

from __future__ import annotations

import inspect

import pytest

from deploy_airflow_on_ecs_fargate import contract, health, listen_address
from deploy_airflow_on_ecs_fargate.settings import load_settings


def test_long_running_components_have_a_command_and_a_health_check_one_shots_neither():
    for component in contract.COMPONENTS:
        if component.long_running:
            assert bool(component.airflow_command) != bool(component.module), f"{component.name}: one command"
            assert component.health, component.name
        else:
            assert not component.airflow_command and not component.module and component.health is None, component.name
            assert not component.ports
        if component.runs_beside:
            host = contract.component(component.runs_beside)
            assert host.long_running and not host.runs_beside, f"{component.name} runs beside a service of its own"


def test_stop_timeouts_fit_fargate():
    for component in contract.COMPONENTS:
        assert 0 < component.stop_timeout_seconds <= contract.FARGATE_MAX_STOP_TIMEOUT_SECONDS


def test_health_timings_leave_room():
    assert contract.HEALTH_ANSWER_SECONDS < contract.HEALTH_TIMEOUT_SECONDS < contract.HEALTH_INTERVAL_SECONDS


def test_names_are_unique_and_required_by_names_real_components():
    assert len(contract.VARIABLES_BY_NAME) == len(contract.VARIABLES)
    assert len(contract.COMPONENTS_BY_NAME) == len(contract.COMPONENTS)
    for variable in contract.VARIABLES:
        assert set(variable.required_by) <= set(contract.COMPONENT_NAMES), variable.name
        assert variable.summary and variable.example, variable.name


@pytest.mark.parametrize("component", contract.COMPONENT_NAMES)
def test_the_examples_make_a_valid_environment_for_every_component(component):
    environment = {variable.name: variable.example for variable in contract.VARIABLES}
    settings = load_settings(component, environment)
    assert settings.component == component


def test_numeric_defaults_are_within_their_limits():
    for variable in contract.VARIABLES:
        if variable.minimum is not None:
            assert variable.maximum is not None and variable.default is not None
            assert variable.minimum <= int(variable.default) <= variable.maximum, variable.name


def test_unknown_names_are_reported_with_the_closest_known_one():
    names = ["AIRFLOW_DB_HOST", "AIRFLOW__CORE__PARALLELISM", "AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_DB_HSOT", "FOO"]
    assert contract.unknown_names(names) == ["AIRFLOW_DB_HSOT (did you mean AIRFLOW_DB_HOST?)", "FOO"]


def test_every_probe_the_catalogue_names_is_one_the_health_checks_know():
    probes = inspect.getsource(health.check)
    for component in contract.LONG_RUNNING:
        assert component.health is not None
        assert f'case "{component.health.probe}"' in probes


def test_the_log_server_replacement_matches_what_airflow_starts():
    # listen_address replaces airflow.utils.serve_logs.serve_logs: same call signature, and the
    # worker and the triggerer must still look it up by that name when they start it.
    import airflow.utils.serve_logs
    from airflow.cli.commands import triggerer_command
    from airflow.providers.celery.cli import celery_command

    original = airflow.utils.serve_logs.serve_logs
    assert (
        inspect.signature(listen_address.serve_logs).parameters.keys() == inspect.signature(original).parameters.keys()
    )
    for starter in (celery_command._serve_logs, triggerer_command._serve_logs):
        assert "from airflow.utils.serve_logs import serve_logs" in inspect.getsource(starter)
    try:
        listen_address.install()
        assert airflow.utils.serve_logs.serve_logs is listen_address.serve_logs
    finally:
        airflow.utils.serve_logs.serve_logs = original


def test_a_module_component_runs_its_module():
    import importlib

    for component in contract.LONG_RUNNING:
        if component.module:
            assert callable(importlib.import_module(component.module).main), component.module


def airflow_metric_names() -> set[str]:
    """Every name Airflow documents emitting (its metrics registry), legacy names with `default_pool`
    and the like filled in."""
    from airflow._shared.observability.metrics.metrics_registry import YAML_REGISTRY_PATH, read_metrics_yaml

    names = set()
    for entry in read_metrics_yaml(str(YAML_REGISTRY_PATH)):
        names.add(entry["name"])
        if entry.get("legacy_name", "-") != "-":
            names.add(entry["legacy_name"].replace("{pool_name}", "default_pool"))
    return names


def test_every_kept_metric_is_one_airflow_emits_from_the_components_named():
    known = airflow_metric_names()
    for metric in contract.METRICS:
        assert metric.name in known, metric.name
        assert metric.kind in contract.STATSD_METRIC_TYPES
        assert set(metric.emitted_by) <= set(contract.LONG_RUNNING_NAMES), metric.name
        if metric.heartbeat_seconds is not None:
            assert metric.kind == "counter" and len(metric.emitted_by) == 1
    assert set(contract.METRIC_EMITTERS) == {"scheduler", "dag-processor", "triggerer", "worker"}


def test_airflows_own_allow_list_check_lets_exactly_the_kept_metrics_through():
    from airflow._shared.observability.metrics.validators import get_validator

    validator = get_validator(contract.metrics_allow_list(), None)
    assert all(validator.test(metric.name) for metric in contract.METRICS)
    # Per-DAG, per-task, per-pool and per-host names would each be a metric to pay for.
    for name in ("ti.finish.my_dag.my_task.success", "ti.finish", "pool.open_slots.other_pool", "dagrun.duration"):
        assert not validator.test(name), name
    for name in ("triggers.running.ip-10-0-1-2", "executor.queued_tasks.CeleryExecutor", "scheduler_heartbeat_x"):
        assert not validator.test(name), name


def test_statsd_environment_sends_the_kept_metrics_to_the_collector():
    environment = contract.statsd_environment("127.0.0.1", 18125)
    assert environment == {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": "18125",
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        "AIRFLOW__METRICS__METRICS_ALLOW_LIST": contract.metrics_allow_list(),
    }
    assert contract.statsd_environment("127.0.0.1")["AIRFLOW__METRICS__STATSD_PORT"] == str(contract.STATSD_PORT)
