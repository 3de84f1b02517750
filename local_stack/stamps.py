"""Skipping one-shot steps whose inputs have not changed since they last succeeded.

`migrate` and the admin-user step each import Airflow (seconds of CPU on a 2-core machine). Each
records what it ran against; the next `make up` skips it when the installed Airflow, the schema
revision in the database and (for the admin) the login are still the same. A different database,
an upgrade or `rm -rf .local` all change the record, so the step runs again."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import psycopg2

from deploy_airflow_on_ecs_fargate.database import libpq_url
from deploy_airflow_on_ecs_fargate.settings import load_settings

VERSIONED_DISTRIBUTIONS = ("apache-airflow", "apache-airflow-providers-fab")


def _query(environment: dict[str, str], sql: str, parameters=()) -> list[tuple]:
    url = load_settings("migrate", environment).database_url
    try:
        with psycopg2.connect(libpq_url(url), connect_timeout=5) as connection, connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.fetchall()
    except psycopg2.Error:
        return []  # no schema yet, or no table: nothing is current


def schema_record(environment: dict[str, str]) -> dict:
    revision = _query(environment, "SELECT version_num FROM alembic_version")
    return {
        "versions": {name: version(name) for name in VERSIONED_DISTRIBUTIONS},
        "revision": revision[0][0] if revision else None,
    }


def admin_record(environment: dict[str, str]) -> dict | None:
    """None when the admin user is missing from the database."""
    username = environment["AIRFLOW_ADMIN_USERNAME"]
    if not _query(environment, "SELECT 1 FROM ab_user WHERE username = %s", (username,)):
        return None
    login = f"{username}\n{environment['AIRFLOW_ADMIN_PASSWORD']}".encode()
    return {"login_sha256": hashlib.sha256(login).hexdigest(), **schema_record(environment)}


def is_current(stamp_file: Path, record: dict | None) -> bool:
    try:
        return (
            record is not None and record.get("revision") is not None and json.loads(stamp_file.read_text()) == record
        )
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def write(stamp_file: Path, record: dict | None) -> None:
    if record is not None:
        stamp_file.write_text(json.dumps(record))
