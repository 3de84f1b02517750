"""Every command explains itself: `--help` with a summary and a real example, listed by the top
`--help`, and documented in the README."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from airflow_ecs_cli.cli import app
from tests.conftest import REPO_ROOT


def command_paths() -> list[tuple[str, ...]]:
    """Every command, e.g. ("deploy",) and ("local", "run")."""
    group = typer.main.get_command(app)
    found = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if subcommands:
            found += [(name, sub) for sub in subcommands]
        else:
            found.append((name,))
    return found


def test_every_command_of_the_issue_is_there():
    expected = {"deploy", "destroy", "run-task", "exec", "scale", "status", "logs", "admin-password"}
    expected_local = {"up", "down", "status", "logs", "run"}
    assert expected | {("local", name) for name in expected_local} <= {
        path[0] if len(path) == 1 else path for path in command_paths()
    }


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_each_command_has_help_with_an_example_of_itself(path):
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0
    summary = result.stdout.split("\n\n")[1].strip()
    assert len(summary) > 20, result.stdout
    examples = re.findall(rf"^\s+airflow-ecs {' '.join(path)}\b.*$", result.stdout, flags=re.MULTILINE)
    assert examples, f"`airflow-ecs {' '.join(path)} --help` shows no example of itself"


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_each_command_is_in_the_readme(path):
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"airflow-ecs {' '.join(path)}" in readme


def test_the_top_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for path in command_paths():
        assert re.search(rf"^\s+{path[0]}\s", result.stdout, flags=re.MULTILINE), path
