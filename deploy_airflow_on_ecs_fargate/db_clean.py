"""`db-clean`: Airflow's `airflow db clean` with a cut-off computed when it runs.

The scheduled cleanup (EventBridge Scheduler on ECS, decision 0073) and `airflow-ecs run-task
--component db-clean` run the same fixed container command; the cut-off must be "now minus the
retention", so it is computed here, at run time, from AIRFLOW_DB_CLEAN_RETENTION_DAYS.

- `--skip-archive`: the deleted rows are not copied into `_airflow_deleted__*` tables, which would
  keep the database as large as before (the backups hold the history);
- `--error-on-cleanup-failure`: a table that could not be cleaned fails the task (Airflow would
  exit 0), so a failing cleanup shows in ECS;
- extra arguments reach Airflow after these (`--dry-run`, `--tables log,xcom`, `--verbose`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deploy_airflow_on_ecs_fargate.components import airflow_command


def clean_before(retention_days: int, now: datetime | None = None) -> datetime:
    """The cut-off: rows older than this are deleted. UTC, to the second."""
    moment = now if now is not None else datetime.now(UTC)
    return (moment - timedelta(days=retention_days)).astimezone(UTC).replace(microsecond=0)


def command(cut_off: datetime, extra_args: list[str]) -> list[str]:
    return airflow_command(
        "db",
        "clean",
        "--clean-before-timestamp",
        cut_off.isoformat(),
        "--skip-archive",
        "--error-on-cleanup-failure",
        "--yes",
        *extra_args,
    )
