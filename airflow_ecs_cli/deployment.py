"""Which deployment a command acts on: a profile of the CDK app's settings plus overrides, the
same `name=value` words as `make synth SETTINGS=...` and `cdk -c airflow:name=value`.

The settings module of the CDK app (infrastructure/airflow_ecs/settings.py) is imported as is:
it needs only the standard library and the runtime contract, not aws-cdk-lib, so it is cheap.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from airflow_ecs_cli.errors import bad_input

if TYPE_CHECKING:
    from airflow_ecs.settings import DeploymentSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
INFRASTRUCTURE = REPO_ROOT / "infrastructure"
DEFAULT_PROFILE = "dev"


def _settings_module() -> ModuleType:
    # The CDK app's package lives beside its app.py, as `cdk synth` runs it.
    if str(INFRASTRUCTURE) not in sys.path:
        sys.path.insert(0, str(INFRASTRUCTURE))
    from airflow_ecs import settings

    return settings


def parse_overrides(words: Iterable[str]) -> dict[str, str]:
    """`worker.count=3 egress=private` (one or several arguments) as {name: value}."""
    overrides: dict[str, str] = {}
    for word in (part for argument in words for part in argument.split()):
        name, equals, value = word.partition("=")
        if not equals or not name:
            raise bad_input(f"setting {word!r} is not name=value, e.g. --settings worker.count=3")
        overrides[name] = value
    return overrides


@dataclass(frozen=True)
class Deployment:
    """A deployment's settings and the names of its two stacks."""

    profile: str
    overrides: Mapping[str, str]
    settings: DeploymentSettings

    @property
    def stack_name(self) -> str:
        return self.settings.name

    @property
    def registry_stack_name(self) -> str:
        # infrastructure/airflow_ecs/application.py names the registry stack this way.
        return f"{self.settings.name}-registry"


def load(profile: str, overrides: Mapping[str, str]) -> Deployment:
    """The validated settings, or one line naming the bad setting (exit 2)."""
    settings = _settings_module()
    try:
        loaded = settings.load(profile, dict(overrides))
    except settings.SettingsError as error:
        raise bad_input(f"settings: {error}") from None
    return Deployment(profile=profile, overrides=dict(overrides), settings=loaded)


def stack_name(stack: str | None, profile: str, overrides: Mapping[str, str]) -> str:
    """`--stack` when given, else the name the profile and overrides give the Airflow stack."""
    return stack or load(profile, overrides).stack_name


def fargate_sizes() -> Mapping[int, tuple[int, ...]]:
    """Fargate's CPU units and the memory sizes each allows (the settings validate with the same table)."""
    return dict(_settings_module().FARGATE_SIZES)
