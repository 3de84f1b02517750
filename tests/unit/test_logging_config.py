"""Secrets never reach a component's stdout/stderr: checked in a real Airflow process."""

import subprocess
import sys

from tests.conftest import REPO_ROOT

EMITTER = """
import logging, sys, structlog
import airflow.settings  # configures logging from AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS, as components do
logging.getLogger("airflow.jobs").warning("stdlib line with db-password-8b1c")
structlog.get_logger("airflow.jobs").warning("structlog line with %s" % sys.argv[1])
print("print line with fernet-seed-2f9a-000000000000000000000")
print("stderr line with admin-pw-77f1", file=sys.stderr)
sys.stdout.flush()
sys.stdout.buffer.write(b"bytes line with db-password-8b1c\\n")  # the Celery worker logs through .buffer
sys.stdout.buffer.flush()
"""


def test_component_output_masks_raw_and_configured_secrets(tmp_path):
    jwt_secret = "jwt-secret-4d2e-00000000000000000000000"
    environment = {
        "PATH": "/usr/bin:/bin",
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": "deploy_airflow_on_ecs_fargate.logging_config.LOGGING_CONFIG",
        "AIRFLOW_DB_PASSWORD": "db-password-8b1c",
        "AIRFLOW_FERNET_SEED": "fernet-seed-2f9a-000000000000000000000",
        "AIRFLOW_ADMIN_PASSWORD": "admin-pw-77f1",
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
    }
    result = subprocess.run(
        [sys.executable, "-c", EMITTER, jwt_secret],
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    for line in (
        "stdlib line with ***",
        "structlog line with ***",
        "print line with ***",
        "stderr line with ***",
        "bytes line with ***",
    ):
        assert line in output
    for secret in ("db-password-8b1c", "fernet-seed-2f9a", "admin-pw-77f1", jwt_secret):
        assert secret not in output


def test_without_the_project_config_airflow_would_print_them(tmp_path):
    """The reason the module exists: Airflow 3.3's default leaves component output unmasked."""
    environment = {"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path), "AIRFLOW_DB_PASSWORD": "db-password-8b1c"}
    result = subprocess.run(
        [sys.executable, "-c", EMITTER, "x"],
        env=environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "stdlib line with db-password-8b1c" in result.stdout + result.stderr
