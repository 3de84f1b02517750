"""The environment every local component gets: the runtime contract (docs/runtime-contract.md)
filled with local values. Anything the user exported when running `make up` wins, so standard
AIRFLOW__* variables reach every component."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping

from local_stack import broker, postgres
from local_stack.paths import REPO_ROOT, StackPaths

POSTGRES_PORT = 15432
# ElasticMQ's port, as in the seed's docker-compose file.
SQS_PORT = 9324
API_URL = "http://127.0.0.1:8080"
DEFAULT_ADMIN = ("admin", "admin")
# Locally a redelivery after a lost worker should not wait hours; tasks here are short.
LOCAL_SQS_VISIBILITY_TIMEOUT = 600

SECRET_NAMES = ("AIRFLOW_FERNET_SEED", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")


def stack_secrets(paths: StackPaths) -> dict[str, str]:
    """Random shared secrets, generated once and kept: a new Fernet key would make the
    connections and variables already stored unreadable."""
    if paths.secrets_file.exists():
        return json.loads(paths.secrets_file.read_text())
    values = {name: secrets.token_urlsafe(48) for name in SECRET_NAMES}
    paths.secrets_file.write_text(json.dumps(values, indent=2))
    paths.secrets_file.chmod(0o600)
    return values


def component_environment(paths: StackPaths, user_environ: Mapping[str, str]) -> dict[str, str]:
    local = {
        "AIRFLOW_HOME": str(paths.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        # New DAG files show up within seconds instead of Airflow's 5 minutes.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW_DB_HOST": "127.0.0.1",
        "AIRFLOW_DB_PORT": str(POSTGRES_PORT),
        "AIRFLOW_DB_USER": postgres.USER,
        "AIRFLOW_DB_PASSWORD": postgres.PASSWORD,
        "AIRFLOW_DB_NAME": postgres.DATABASE,
        "AIRFLOW_API_SERVER_URL": API_URL,
        "AIRFLOW_SQS_QUEUES": json.dumps({"default": broker.queue_url(SQS_PORT)}),
        "AIRFLOW_SQS_VISIBILITY_TIMEOUT": str(LOCAL_SQS_VISIBILITY_TIMEOUT),
        "AWS_REGION": broker.REGION,
        "AWS_ACCESS_KEY_ID": broker.CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": broker.CREDENTIALS["aws_secret_access_key"],
        "AIRFLOW_ADMIN_USERNAME": DEFAULT_ADMIN[0],
        "AIRFLOW_ADMIN_PASSWORD": DEFAULT_ADMIN[1],
        "AIRFLOW_WORKER_HEARTBEAT_FILE": str(paths.run / "worker-heartbeat"),
        "PYTHONUNBUFFERED": "1",
        **stack_secrets(paths),
    }
    environment = {**local, **user_environ}
    # Never let a developer's real AWS settings send local tasks to a real queue.
    environment["AWS_ENDPOINT_URL_SQS"] = broker.endpoint(SQS_PORT)
    environment.pop("AWS_PROFILE", None)
    environment.pop("AWS_SESSION_TOKEN", None)
    return environment
