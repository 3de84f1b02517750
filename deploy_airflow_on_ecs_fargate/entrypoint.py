"""The container entrypoint: validate configuration, wait for the database, start a component.

Used identically by the images, docker compose and the local stack:
``python -m deploy_airflow_on_ecs_fargate <component> [extra airflow args]``.
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys

from deploy_airflow_on_ecs_fargate import contract, db_clean
from deploy_airflow_on_ecs_fargate.admin_user import AdminUserError, ensure_admin_user
from deploy_airflow_on_ecs_fargate.components import airflow_command, command_for
from deploy_airflow_on_ecs_fargate.database import (
    DatabaseUnavailable,
    describe,
    drop_scheduler_wakeup,
    migration_lock,
    wait_for_database,
)
from deploy_airflow_on_ecs_fargate.settings import ConfigurationError, Settings, load_settings

PROGRAM = "deploy_airflow_on_ecs_fargate"


def say(message: str) -> None:
    print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> tuple[str, list[str]]:
    parser = argparse.ArgumentParser(
        prog=f"python -m {PROGRAM}",
        description="Start an Airflow component with the configuration from the environment "
        "(docs/runtime-contract.md).",
    )
    parser.add_argument("component", choices=contract.COMPONENT_NAMES, help="what to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="extra arguments for the airflow command")
    parsed = parser.parse_args(argv)
    return parsed.component, parsed.args


def prepare(component: str, environ: dict[str, str]) -> Settings:
    """Validate the environment and wait for the database; raise with a one-line message."""
    settings = load_settings(component, environ)
    if settings.db_wait_seconds:
        waited = wait_for_database(
            settings.database_url,
            timeout=settings.db_wait_seconds,
            on_retry=lambda reason: say(f"waiting for metadata database {describe(settings.database_url)}: {reason}"),
        )
        if waited >= 1:
            say(f"metadata database answered after {waited:.0f} s")
    return settings


def warn_about_unknown_names(component: str, environ: dict[str, str]) -> None:
    """A misspelt optional variable would silently fall back to its default: name it. (A missing
    required one stops the start with an error that names the typo instead.)"""
    for name in environ:
        if not name.startswith("AIRFLOW_") or contract.is_known(name):
            continue
        close = difflib.get_close_matches(name, contract.VARIABLES_BY_NAME, n=1, cutoff=0.8)
        if close and not (component in contract.variable(close[0]).required_by and close[0] not in environ):
            say(f"warning: {name} is not a variable of the runtime contract and is ignored: did you mean {close[0]}?")


def create_admin(settings: Settings) -> None:
    assert settings.admin_password is not None  # required for the admin steps (settings.py)
    say(
        ensure_admin_user(
            username=settings.admin_username, password=settings.admin_password, email=settings.admin_email
        )
    )


def migrate(settings: Settings, extra_args: list[str]) -> int:
    """`airflow db migrate`, one at a time across every task of the deployment. The scheduler's
    wake-up triggers are dropped first, so Airflow migrates its own schema only; the next scheduler
    to start installs them again (scheduler_wakeup.py)."""
    with migration_lock(settings.database_url, on_wait=lambda: say("waiting for another migration to finish")):
        drop_scheduler_wakeup(settings.database_url)
        result = subprocess.run(airflow_command("db", "migrate", *extra_args), check=False)
    if result.returncode != 0:
        say(f"error: airflow db migrate failed with exit code {result.returncode}")
    return result.returncode


def run(settings: Settings, extra_args: list[str]) -> int:
    """Start the component. Long-running ones and plain commands replace this process (exec),
    so they receive signals directly: Celery's warm shutdown needs the SIGTERM ECS sends."""
    if settings.component == "migrate":
        return migrate(settings, extra_args)
    if settings.component == "create-admin":
        create_admin(settings)
        return 0
    if settings.component == "init":
        migrated = migrate(settings, [])
        if migrated != 0:
            return migrated
        create_admin(settings)
        return 0
    if settings.component == "db-clean":
        assert settings.db_clean_retention_days is not None  # loaded for db-clean (settings.py)
        cut_off = db_clean.clean_before(settings.db_clean_retention_days)
        say(
            f"deleting metadata rows older than {cut_off.isoformat()} "
            f"({settings.db_clean_retention_days} days), archive tables skipped"
        )
        command = db_clean.command(cut_off, extra_args)
    else:
        command = command_for(settings, extra_args)
    os.execv(command[0], command)
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    component, extra_args = parse_args(sys.argv[1:] if argv is None else argv)
    warn_about_unknown_names(component, dict(os.environ))
    try:
        settings = prepare(component, dict(os.environ))
    except (ConfigurationError, DatabaseUnavailable) as error:
        say(f"error: {error}")
        return 2 if isinstance(error, ConfigurationError) else 1
    os.environ.update(settings.airflow_environment(dict(os.environ)))
    try:
        return run(settings, extra_args)
    except (AdminUserError, DatabaseUnavailable) as error:
        say(f"error: {error}")
        return 1
