"""The environment every local component gets: the runtime contract (contract.py) filled with
local values. Anything the user exported when running `make up` wins, so standard AIRFLOW__*
variables reach every component, ports included (`AIRFLOW__API__PORT=8081 make up`)."""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Mapping

from deploy_airflow_on_ecs_fargate import contract
from local_stack import broker, postgres
from local_stack.paths import REPO_ROOT, StackPaths
from local_stack.settings import LocalSettings

LOOPBACK = "127.0.0.1"
DEFAULT_ADMIN = ("admin", "admin")
# Locally a redelivery after a lost worker should not wait hours; tasks here are short.
LOCAL_SQS_VISIBILITY_TIMEOUT = 600
# Longer than a local database outage (seconds) plus the execution API's retry gap (up to 30 s).
LOCAL_TASK_HEARTBEAT_TIMEOUT = 60


class ExposureError(ValueError):
    """The stack would be reachable from the network with the documented password."""


def stack_secrets(paths: StackPaths) -> dict[str, str]:
    """Random shared secrets, generated once and kept: a new Fernet key would make the
    connections and variables already stored unreadable."""
    names = (contract.FERNET_SEED.name, contract.JWT_SECRET.name, contract.API_SECRET_KEY.name)
    if paths.secrets_file.exists():
        return json.loads(paths.secrets_file.read_text())
    values = {name: secrets.token_urlsafe(48) for name in names}
    paths.secrets_file.write_text(json.dumps(values, indent=2))
    paths.secrets_file.chmod(0o600)
    return values


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def api_url(environment: Mapping[str, str]) -> str:
    """Where this machine reaches the stack's api-server (UI, REST API)."""
    listen = environment.get(contract.LISTEN_ADDRESS.name) or LOOPBACK
    return f"http://{contract.local_address(listen)}:{contract.API_SERVER_PORT.resolve(environment)}"


def component_environment(
    paths: StackPaths, settings: LocalSettings, user_environ: Mapping[str, str]
) -> dict[str, str]:
    local = {
        contract.AIRFLOW_HOME.name: str(paths.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        # New DAG files show up within seconds instead of Airflow's 5 minutes.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        # A task whose worker died is failed (and retried) a minute after its last heartbeat, not
        # five: a laptop has no database failover to ride out (production: settings.py).
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(LOCAL_TASK_HEARTBEAT_TIMEOUT),
        # Nothing the stack starts is reachable from the network (AIRFLOW_LISTEN_ADDRESS to change).
        contract.LISTEN_ADDRESS.name: LOOPBACK,
        contract.DB_HOST.name: LOOPBACK,
        contract.DB_PORT.name: str(settings.postgres_port),
        contract.DB_USER.name: postgres.USER,
        contract.DB_PASSWORD.name: postgres.PASSWORD,
        contract.DB_NAME.name: postgres.DATABASE,
        contract.SQS_QUEUES.name: json.dumps({"default": broker.queue_url(settings.sqs_port)}),
        contract.SQS_VISIBILITY_TIMEOUT.name: str(LOCAL_SQS_VISIBILITY_TIMEOUT),
        contract.AWS_REGION.name: broker.REGION,
        contract.AWS_ACCESS_KEY_ID.name: broker.CREDENTIALS["aws_access_key_id"],
        contract.AWS_SECRET_ACCESS_KEY.name: broker.CREDENTIALS["aws_secret_access_key"],
        contract.ADMIN_USERNAME.name: DEFAULT_ADMIN[0],
        contract.ADMIN_PASSWORD.name: DEFAULT_ADMIN[1],
        contract.WORKER_HEARTBEAT_FILE.name: str(paths.run / "worker-heartbeat"),
        # The demand publisher runs here too (no autoscaling to drive): it shows the metric
        # production scales on, in the emulator's CloudWatch.
        contract.METRIC_NAMESPACE.name: "Airflow/local",
        contract.WORKER_DEMAND_HEARTBEAT_FILE.name: str(paths.run / "worker-demand-heartbeat"),
        contract.PYTHONUNBUFFERED.name: "1",
        # Off unless LOCAL_STACK_STATSD_PORT names a collector's port (on ECS: the CloudWatch agent).
        **(contract.statsd_environment(LOOPBACK, settings.statsd_port) if settings.statsd_port else {}),
        **stack_secrets(paths),
    }
    environment = {**local, **user_environ}
    environment.setdefault(contract.API_SERVER_URL.name, api_url(environment))
    # Never let a developer's real AWS settings send local tasks to a real queue.
    environment[contract.SQS_ENDPOINT.name] = broker.endpoint(settings.sqs_port)
    environment[contract.AWS_ENDPOINT_URL_CLOUDWATCH.name] = broker.endpoint(settings.sqs_port)
    environment.pop("AWS_PROFILE", None)
    environment.pop("AWS_SESSION_TOKEN", None)
    return environment


def check_exposure(environment: Mapping[str, str]) -> None:
    """Refuse to open the UI to the network with the password the README prints."""
    listen = environment.get(contract.LISTEN_ADDRESS.name, LOOPBACK)
    if is_loopback(listen) or environment.get(contract.ADMIN_PASSWORD.name) != DEFAULT_ADMIN[1]:
        return
    raise ExposureError(
        f"{contract.LISTEN_ADDRESS.name}={listen} makes the UI reachable from other machines, but the admin "
        f"password is the default '{DEFAULT_ADMIN[1]}': choose one, e.g. "
        f"`{contract.ADMIN_PASSWORD.name}='a long passphrase' {contract.LISTEN_ADDRESS.name}={listen} make up`"
    )
