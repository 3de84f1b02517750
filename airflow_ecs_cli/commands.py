"""External commands the deploy and destroy run (CDK CLI, image builder, registry login), as
values: printed before they run, recorded by tests, compared in order."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from airflow_ecs_cli.errors import OperatorError


class CommandFailed(OperatorError):
    """An external command exited with an error; it printed its own reasons above."""


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    cwd: Path
    # Set on top of this process's environment; `unset` are removed from it.
    env: Mapping[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    # Given on standard input and never shown (a registry password).
    stdin: str | None = None
    # A clean-up whose failure does not matter (e.g. removing what may not exist).
    may_fail: bool = False

    def shown(self) -> str:
        return shlex.join(self.argv)

    def environment(self) -> dict[str, str]:
        merged = {name: value for name, value in os.environ.items() if name not in self.unset}
        merged.update(self.env)
        return merged


Runner = Callable[[Command], int]


def run(command: Command) -> int:
    """Run with the terminal attached (the tools print their own progress); the exit code."""
    try:
        return subprocess.run(
            command.argv,
            cwd=command.cwd,
            env=command.environment(),
            input=command.stdin,
            text=True,
            check=False,
        ).returncode
    except FileNotFoundError:
        raise OperatorError(f"{command.argv[0]} is not installed or not on PATH") from None


def execute(command: Command, runner: Runner, show: Callable[[str], None]) -> None:
    """Show the command line (never its standard input), run it, raise when it fails."""
    show(f"$ {command.shown()}")
    code = runner(command)
    if code != 0 and not command.may_fail:
        raise CommandFailed(
            f"`{Path(command.argv[0]).name} {command.argv[1]}` exited with {code} (its output is above)"
        )
