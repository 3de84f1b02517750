"""`airflow-ecs local ...`: the local stack's own entry point, and `local run` with the environment
a running stack saved (a real `airflow` process; the database wait is off, so no stack is needed
for commands that do not touch the database)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from airflow_ecs_cli import local
from airflow_ecs_cli.cli import app
from local_stack.paths import StackPaths


@pytest.fixture
def stack_home(tmp_path, monkeypatch, valid_environment) -> StackPaths:
    """A stack folder whose saved environment is a complete, valid one, and a database that 'runs'."""
    paths = StackPaths(tmp_path / "stack")
    paths.create()
    environment = {
        **valid_environment,
        "AIRFLOW_DB_WAIT_SECONDS": "0",
        "AIRFLOW_HOME": str(paths.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "saved-dags-folder"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PATH": "/usr/bin:/bin",
    }
    paths.environment_file.write_text(json.dumps(environment))
    monkeypatch.setenv("LOCAL_STACK_HOME", str(paths.home))
    # What the shell exports must not leak in: the stack's saved configuration is what counts.
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", "/somewhere/else")
    monkeypatch.setattr(local, "database_running", lambda paths: True)
    return paths


def invoke(*args: str):
    return CliRunner().invoke(app, ["local", *args], catch_exceptions=False)


def test_run_uses_the_stacks_saved_configuration_and_its_exit_code(stack_home, capfd, tmp_path):
    result = invoke("run", "--", "config", "get-value", "core", "dags_folder")
    assert result.exit_code == 0, (result.output, capfd.readouterr())
    assert capfd.readouterr().out.strip().splitlines()[-1] == str(tmp_path / "saved-dags-folder")


def test_run_passes_airflows_own_failure_through(stack_home, capfd):
    result = invoke("run", "--", "dags", "no-such-subcommand")
    assert result.exit_code == 2  # argparse's usage error, from Airflow itself
    assert "no-such-subcommand" in capfd.readouterr().err


def test_run_needs_a_started_and_running_stack(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_STACK_HOME", str(tmp_path / "never-started"))
    never = invoke("run", "--", "dags", "list")
    assert never.exit_code == 1
    assert (
        never.stderr == f"error: no local stack in {tmp_path / 'never-started'}: start it with `airflow-ecs local up`\n"
    )
    paths = StackPaths(tmp_path / "stopped")
    paths.create()
    paths.environment_file.write_text("{}")
    monkeypatch.setenv("LOCAL_STACK_HOME", str(paths.home))
    stopped = invoke("run", "--", "dags", "list")
    assert stopped.exit_code == 1
    assert (
        stopped.stderr
        == f"error: the local stack in {paths.home} is not running: start it with `airflow-ecs local up`\n"
    )


def test_run_without_a_command_is_bad_input(stack_home):
    result = invoke("run")
    assert result.exit_code == 2
    assert result.stderr == "error: no Airflow command: give one after --, e.g. `airflow-ecs local run -- dags list`\n"


def test_status_and_logs_are_the_local_stacks_own(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOCAL_STACK_HOME", str(tmp_path / "empty"))
    status = invoke("status")
    assert status.exit_code == 1  # nothing runs
    assert "postgres" in status.stdout and "stopped" in status.stdout
    logs = invoke("logs")
    assert logs.exit_code == 1
    assert "no logs yet" in logs.stderr


@pytest.mark.parametrize("command", ["up", "down"])
def test_up_and_down_call_the_local_stack_entry_point(command, monkeypatch):
    calls = []
    monkeypatch.setattr(local.local_stack, "main", lambda argv: calls.append(argv) or 0)
    assert invoke(command).exit_code == 0
    assert calls == [[command]]


def test_a_bad_local_setting_is_one_line(monkeypatch):
    monkeypatch.setenv("LOCAL_STACK_POSTGRES_PORT", "lots")
    result = invoke("run", "--", "version")
    assert result.exit_code == 2
    assert result.stderr == "error: LOCAL_STACK_POSTGRES_PORT is not a TCP port: got 'lots', expected 1 to 65535\n"
