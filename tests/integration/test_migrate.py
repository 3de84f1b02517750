"""`migrate` is safe when two run at once (two deploys, or a deploy and a manual run)."""

import subprocess
import sys

import psycopg2
import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def test_two_concurrent_migrations_both_succeed_on_an_empty_database(postgres_port, valid_environment, tmp_path):
    admin = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{postgres_port}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS migrate_twice")
        cursor.execute("CREATE DATABASE migrate_twice OWNER airflow")
    valid_environment.update(
        AIRFLOW_DB_HOST="127.0.0.1",
        AIRFLOW_DB_PORT=str(postgres_port),
        AIRFLOW_DB_PASSWORD="airflow",
        AIRFLOW_DB_NAME="migrate_twice",
        AIRFLOW_HOME=str(tmp_path),
        PATH="/usr/bin:/bin",
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "deploy_airflow_on_ecs_fargate", "migrate"],
            env=valid_environment,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    url = f"postgresql://airflow:airflow@127.0.0.1:{postgres_port}/migrate_twice"
    with psycopg2.connect(url) as db, db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM alembic_version")
        assert cursor.fetchone() == (1,)
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'dag_run'")
        assert cursor.fetchone() == (1,)


def test_an_admin_user_that_cannot_be_created_is_one_line(postgres_port, valid_environment, tmp_path):
    # FAB refuses a second user with the same e-mail: the step must say so in one line, exit 1.
    admin = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{postgres_port}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS admin_twice")
        cursor.execute("CREATE DATABASE admin_twice OWNER airflow")
    valid_environment.update(
        AIRFLOW_DB_HOST="127.0.0.1",
        AIRFLOW_DB_PORT=str(postgres_port),
        AIRFLOW_DB_PASSWORD="airflow",
        AIRFLOW_DB_NAME="admin_twice",
        AIRFLOW_HOME=str(tmp_path),
        AIRFLOW_ADMIN_PASSWORD="secret-admin",
        AIRFLOW_ADMIN_EMAIL="ops@example.com",
        PATH="/usr/bin:/bin",
    )

    def create_admin(username: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "deploy_airflow_on_ecs_fargate", "create-admin"],
            env={**valid_environment, "AIRFLOW_ADMIN_USERNAME": username},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = create_admin("admin")
    assert first.returncode == 0, first.stderr[-2000:]
    second = create_admin("second-admin")
    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    assert second.stderr.strip().splitlines()[-1] == (
        "deploy_airflow_on_ecs_fargate: error: could not create admin user 'second-admin': is the e-mail "
        "'ops@example.com' taken by another user? Set AIRFLOW_ADMIN_EMAIL to another address"
    )
