"""`db-clean`, the entry the nightly schedule runs, against the local stack's migrated database:
rows older than AIRFLOW_DB_CLEAN_RETENTION_DAYS go (audit log rows, a DAG run with its task
instances), recent ones stay."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import closing

import psycopg2
import pytest

from local_stack import postgres
from local_stack.airflow_api import AirflowApi
from local_stack.environment import api_url
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

DAG_ID = "example_one_task"
OLD, RECENT = "db-clean-test-old", "db-clean-test-recent"


def count(cursor, query: str, *parameters) -> int:
    cursor.execute(query, parameters)
    return cursor.fetchone()[0]


def test_db_clean_deletes_what_is_older_than_the_retention_and_keeps_the_rest(running_stack):
    environment = running_stack.environment
    api = AirflowApi.login(api_url(environment), "admin", "admin")
    api.wait_for_dag(DAG_ID)
    old_run, recent_run = api.trigger(DAG_ID), api.trigger(DAG_ID)
    for run_id in (old_run, recent_run):
        assert api.wait_for_run(DAG_ID, run_id, timeout=180) == "success"
    # closing(), not `with connection:` (a transaction): db-clean must see the rows at once.
    with (
        closing(
            psycopg2.connect(
                host="127.0.0.1",
                port=environment["LOCAL_STACK_POSTGRES_PORT"],
                user=postgres.USER,
                password=postgres.PASSWORD,
                dbname=postgres.DATABASE,
            )
        ) as connection,
        connection.cursor() as cursor,
    ):
        connection.autocommit = True
        # Rows on both sides of the 90 days kept.
        for event, age in ((OLD, "200 days"), (OLD, "91 days"), (RECENT, "1 day"), (RECENT, "89 days")):
            cursor.execute("INSERT INTO log (dttm, event) VALUES (now() - %s::interval, %s)", (age, event))
        cursor.execute(
            "UPDATE dag_run SET start_date = start_date - interval '200 days' WHERE dag_id = %s AND run_id = %s",
            (DAG_ID, old_run),
        )
        cursor.execute(
            "UPDATE task_instance SET start_date = start_date - interval '200 days' WHERE dag_id = %s AND run_id = %s",
            (DAG_ID, old_run),
        )

        # The stack's saved component environment, as `airflow-ecs local run` uses it.
        component_environment = json.loads(running_stack.paths.environment_file.read_text())
        component_environment["AIRFLOW_DB_CLEAN_RETENTION_DAYS"] = "90"
        result = subprocess.run(
            [sys.executable, "-m", "deploy_airflow_on_ecs_fargate", "db-clean"],
            env=component_environment,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        print(result.stdout, result.stderr)
        assert result.returncode == 0, result.stderr
        assert "deleting metadata rows older than " in result.stderr and "(90 days)" in result.stderr

        assert count(cursor, "SELECT count(*) FROM log WHERE event = %s", OLD) == 0
        assert count(cursor, "SELECT count(*) FROM log WHERE event = %s", RECENT) == 2
        runs = "SELECT count(*) FROM dag_run WHERE dag_id = %s AND run_id = %s"
        instances = "SELECT count(*) FROM task_instance WHERE dag_id = %s AND run_id = %s"
        assert count(cursor, runs, DAG_ID, old_run) == 0
        assert count(cursor, instances, DAG_ID, old_run) == 0
        assert count(cursor, runs, DAG_ID, recent_run) == 1
        assert count(cursor, instances, DAG_ID, recent_run) == 1
        # Skipped archive: no _airflow_deleted__* copy keeps the rows.
        assert count(cursor, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_airflow\\_deleted\\_\\_%%'") == 0
    # The recent run is still served, the old one is gone.
    assert api.run_state(DAG_ID, recent_run) == "success"
