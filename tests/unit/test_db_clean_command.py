"""`db-clean`: the cut-off is computed when it runs, from the retention in the environment, and
the command is Airflow's `db clean` with the archive skipped. (Against a real database:
tests/integration/test_db_clean_local.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from deploy_airflow_on_ecs_fargate import db_clean
from deploy_airflow_on_ecs_fargate.settings import ConfigurationError, load_settings


def test_the_cut_off_is_now_minus_the_retention_in_utc():
    berlin_noon = datetime(2026, 11, 26, 12, 0, 30, 999, tzinfo=timezone(timedelta(hours=1)))
    assert db_clean.clean_before(90, berlin_noon) == datetime(2026, 8, 28, 11, 0, 30, tzinfo=UTC)
    before = datetime.now(UTC) - timedelta(days=7)
    assert before - timedelta(seconds=1) <= db_clean.clean_before(7) <= datetime.now(UTC) - timedelta(days=7)


def test_the_command_skips_the_archive_fails_on_a_failed_table_and_passes_extra_arguments():
    cut_off = datetime(2026, 8, 28, 11, 0, 30, tzinfo=UTC)
    command = db_clean.command(cut_off, ["--dry-run"])
    assert command[1:3] == ["-m", "deploy_airflow_on_ecs_fargate.airflow_cli"]
    assert command[3:] == [
        "db",
        "clean",
        "--clean-before-timestamp",
        "2026-08-28T11:00:30+00:00",
        "--skip-archive",
        "--error-on-cleanup-failure",
        "--yes",
        "--dry-run",
    ]


def test_the_retention_defaults_to_90_days_and_is_validated(valid_environment):
    assert load_settings("db-clean", valid_environment).db_clean_retention_days == 90
    valid_environment["AIRFLOW_DB_CLEAN_RETENTION_DAYS"] = "30"
    assert load_settings("db-clean", valid_environment).db_clean_retention_days == 30
    valid_environment["AIRFLOW_DB_CLEAN_RETENTION_DAYS"] = "0"
    with pytest.raises(ConfigurationError, match="AIRFLOW_DB_CLEAN_RETENTION_DAYS is out of range: got 0"):
        load_settings("db-clean", valid_environment)


def test_airflow_accepts_the_arguments():
    """The flags exist in this Airflow's `db clean` (a renamed flag would fail every night)."""
    from airflow.cli.cli_parser import get_parser

    command = db_clean.command(db_clean.clean_before(90), [])
    parsed = get_parser().parse_args(command[3:])
    assert parsed.skip_archive and parsed.error_on_cleanup_failure and parsed.yes
    assert parsed.clean_before_timestamp.tzinfo is not None
