"""Configuration from the environment, in one place.

Every container (ECS task, compose service, local-stack process) gives its configuration as
environment variables (docs/runtime-contract.md). This module validates them for one component
and turns them into the ``AIRFLOW__*`` variables Airflow reads, so that a missing or malformed
value stops the process at start with one line, instead of a traceback from deep inside Airflow.

The names, defaults and limits are the contract's (contract.py). It deliberately imports nothing
from Airflow: health checks and the entrypoint use it and must stay fast.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from deploy_airflow_on_ecs_fargate import contract
from deploy_airflow_on_ecs_fargate.contract import Variable

MIN_SECRET_LENGTH = 32

FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# Airflow records this host name in its job rows and task instances; peers fetch running tasks'
# logs from it. With the servers bound to one address, that address is the name (listen_address).
LISTEN_ADDRESS_HOSTNAME_CALLABLE = "deploy_airflow_on_ecs_fargate.listen_address.advertised_hostname"

# How Airflow rides out an outage of its database or broker, and how long it waits before it gives
# up on a task. Chosen for production: an RDS Multi-AZ failover refuses connections for 1-2 minutes,
# Fargate Spot gives SIGTERM and 2 minutes. The local stack shortens the heartbeat timeout
# (local_stack/environment.py). Trade-offs: docs/decisions/0042-recovery-timeouts.md.
RECOVERY_DEFAULTS: dict[str, str] = {
    # A worker's calls to the execution API (task start, heartbeat, final state): 15 attempts 2 to 30 s
    # apart, about 2.75 minutes on average (Airflow's 5 attempts from 1 s: about 10 s), so a task that
    # starts, runs or ends during a failover is neither failed nor left unrecorded for it.
    "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "15",
    "AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MIN": "2",
    "AIRFLOW__WORKERS__EXECUTION_API_RETRY_WAIT_MAX": "30",
    # A running task whose heartbeat is older than this is failed, then retried: its worker is gone.
    # It must outlast a failover plus one retry gap of the heartbeat, or live tasks get failed.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "300",
    # A task queued this long without starting is sent again (twice, then failed): the backstop for
    # a message lost with a dead worker's open long poll. It must outlast a queue that is long
    # because every worker is busy, or waiting tasks get sent again and finally failed.
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
    # A send that times out while SQS does not answer (celery_config.PUBLISH_RETRY_POLICY) is tried
    # again on the executor's next loops (2.5 s apart measured locally: about 5 minutes in all)
    # instead of failing the task.
    "AIRFLOW__CELERY__TASK_PUBLISH_MAX_RETRIES": "120",
}

# Defaults every component starts with. Any AIRFLOW__* variable the user sets wins, so the
# standard Airflow way of changing a setting keeps working everywhere.
AIRFLOW_DEFAULTS: dict[str, str] = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    # Real users, roles and hashed passwords; SimpleAuthManager warns it is not for production.
    "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CELERY__BROKER_URL": "sqs://",
    "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "deploy_airflow_on_ecs_fargate.celery_config.CELERY_CONFIG",
    "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": "deploy_airflow_on_ecs_fargate.logging_config.LOGGING_CONFIG",
    # Component logs go to stdout, which is what ECS ships to CloudWatch.
    "AIRFLOW__LOGGING__DAG_PROCESSOR_LOG_TARGET": "stdout",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
    # The scheduler's loop sleeps at most this long when it found nothing to do. A new or queued run
    # and a task that ended wake it at once (scheduler_wakeup.py), so this bounds only what no
    # notification announces (a cron schedule coming due, a retry delay ending): Airflow's default,
    # 1 s. Each idle loop costs about 20 CPU-ms of scheduler and PostgreSQL
    # (docs/decisions/0082-scheduler-wakes-on-notify.md).
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1",
    **RECOVERY_DEFAULTS,
}

# Per-component defaults, applied on top of AIRFLOW_DEFAULTS (the user's AIRFLOW__* still win).
COMPONENT_DEFAULTS: dict[str, dict[str, str]] = {
    # Syncing FAB's roles and permissions costs the api-server about 7 s of CPU at every start.
    # The admin step (create-admin / init, run at every deploy) syncs them instead, once.
    "api-server": {"AIRFLOW__FAB__UPDATE_FAB_PERMS": "False"},
}


# The S3 DAG bundle (AIRFLOW_DAGS_BUCKET): DAGs pushed to the bucket are live without an image
# build (docs/decisions/0072-dag-bundles-from-s3.md). The name is what the UI shows as the bundle.
S3_DAG_BUNDLE_NAME = "dags"
S3_DAG_BUNDLE_CLASS = "airflow.providers.amazon.aws.bundles.s3.S3DagBundle"
# S3's bucket naming rules (3-63 characters; lowercase letters, digits, dots and hyphens).
S3_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class ConfigurationError(Exception):
    """A missing or malformed environment variable; the message is one line for the operator."""


@dataclass(frozen=True)
class BrokerSettings:
    """Celery on SQS: what the scheduler (sender) and the workers (consumers) need."""

    queues: Mapping[str, str]
    region: str
    visibility_timeout: int
    wait_time_seconds: int


@dataclass(frozen=True)
class DemandSettings:
    """The worker-demand publisher: where it publishes and the arithmetic's parameters."""

    namespace: str
    concurrency: int
    max_workers: int
    scale_in_after: int
    period: int
    heartbeat_file: Path


@dataclass(frozen=True)
class Settings:
    component: str
    database_url: str
    fernet_key: str
    jwt_secret: str
    api_secret_key: str
    execution_api_url: str | None
    broker: BrokerSettings | None
    admin_username: str
    admin_password: str | None
    admin_email: str
    db_wait_seconds: int
    listen_address: str
    demand: DemandSettings | None = None
    # JSON for [dag_processor] dag_bundle_config_list, or None for Airflow's default (the DAGs folder).
    dag_bundle_config: str | None = None
    db_clean_retention_days: int | None = None

    def airflow_environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The environment to start Airflow with: ``environ`` plus derived values and defaults."""
        derived = {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
            "AIRFLOW__API__SECRET_KEY": self.api_secret_key,
            # Where the api-server and the scheduler's health server listen; the log servers
            # follow AIRFLOW_LISTEN_ADDRESS itself (listen_address.py).
            "AIRFLOW__API__HOST": self.listen_address,
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": self.listen_address,
        }
        if self.dag_bundle_config is not None:
            derived["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = self.dag_bundle_config
        if not contract.is_wildcard(self.listen_address):
            derived["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = LISTEN_ADDRESS_HOSTNAME_CALLABLE
        if self.execution_api_url:
            derived["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = self.execution_api_url
        if self.broker:
            derived[contract.AWS_DEFAULT_REGION.name] = self.broker.region
            # Airflow's own default Celery config reads this too (and warns when it is missing);
            # celery_config uses the same value.
            derived["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"] = str(
                self.broker.visibility_timeout
            )
        # The contract's ports, whatever Airflow's own defaults become.
        ports = {port.variable: str(port.number) for port in contract.PORTS}
        defaults = {**AIRFLOW_DEFAULTS, **ports, **COMPONENT_DEFAULTS.get(self.component, {})}
        return {**defaults, **derived, **environ}


def load_settings(component: str, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate the environment for ``component``; raise ConfigurationError on the first problem."""
    env = os.environ if environ is None else environ
    if component not in contract.COMPONENTS_BY_NAME:
        raise ConfigurationError(
            f"unknown component {component!r}: expected one of {', '.join(contract.COMPONENT_NAMES)}"
        )
    spec = contract.component(component)
    for port in contract.PORTS:
        _port(env, port)
    return Settings(
        component=component,
        database_url=_database_url(env),
        fernet_key=_fernet_key(env),
        jwt_secret=_secret(env, contract.JWT_SECRET),
        api_secret_key=_secret(env, contract.API_SECRET_KEY),
        execution_api_url=_execution_api_url(env, required=component in contract.API_SERVER_URL.required_by),
        broker=load_broker_settings(env) if spec.needs_broker else None,
        admin_username=_text(env, contract.ADMIN_USERNAME),
        admin_password=_admin_password(env, required=component in contract.ADMIN_PASSWORD.required_by),
        admin_email=_text(env, contract.ADMIN_EMAIL),
        db_wait_seconds=_int(env, contract.DB_WAIT_SECONDS),
        listen_address=_text(env, contract.LISTEN_ADDRESS),
        demand=load_demand_settings(env) if component == "worker-demand" else None,
        dag_bundle_config=dag_bundle_config(env),
        db_clean_retention_days=_int(env, contract.DB_CLEAN_RETENTION_DAYS) if component == "db-clean" else None,
    )


def dag_bundle_config(environ: Mapping[str, str]) -> str | None:
    """The S3 DAG bundle on AIRFLOW_DAGS_BUCKET as Airflow's bundle list (JSON), or None without a bucket.

    Every component gets the same list: the dag-processor and the workers fetch the bucket, the
    others only name the bundle (scheduler, UI)."""
    bucket = environ.get(contract.DAGS_BUCKET.name, "").strip()
    refresh = _int(environ, contract.DAGS_REFRESH_SECONDS)
    if not bucket:
        return None
    if not S3_BUCKET_NAME.fullmatch(bucket):
        raise ConfigurationError(
            f"{contract.DAGS_BUCKET.name} is not an S3 bucket name: got {bucket!r}, expected 3-63 lowercase "
            "letters, digits, '.' or '-' (the stack output DagBucketName)"
        )
    bundle = {
        "name": S3_DAG_BUNDLE_NAME,
        "classpath": S3_DAG_BUNDLE_CLASS,
        # The bucket holds nothing but DAGs (airflow-ecs dags push mirrors a folder to its root):
        # no prefix, so a bucket nobody pushed to yet is an empty bundle, not an error.
        "kwargs": {"bucket_name": bucket, "refresh_interval": refresh},
    }
    return json.dumps([bundle])


def load_demand_settings(environ: Mapping[str, str] | None = None) -> DemandSettings:
    """Validate the demand publisher's settings; raise ConfigurationError on the first problem."""
    env = os.environ if environ is None else environ
    raw_concurrency = env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "").strip()
    if raw_concurrency and not (raw_concurrency.isdigit() and int(raw_concurrency) >= 1):
        raise ConfigurationError(
            f"AIRFLOW__CELERY__WORKER_CONCURRENCY is not a slot count: got {raw_concurrency!r}, expected 1 or more"
        )
    return DemandSettings(
        namespace=_required(env, contract.METRIC_NAMESPACE, "the CloudWatch namespace, e.g. Airflow/airflow-dev"),
        concurrency=int(raw_concurrency or contract.AIRFLOW_DEFAULT_WORKER_CONCURRENCY),
        max_workers=_int(env, contract.WORKER_MAX_COUNT),
        scale_in_after=_int(env, contract.WORKER_SCALE_IN_AFTER_SECONDS),
        period=_int(env, contract.WORKER_DEMAND_PERIOD_SECONDS),
        heartbeat_file=Path(_text(env, contract.WORKER_DEMAND_HEARTBEAT_FILE)),
    )


def load_broker_settings(environ: Mapping[str, str] | None = None) -> BrokerSettings:
    """Validate the SQS settings; raise ConfigurationError on the first problem."""
    env = os.environ if environ is None else environ
    return BrokerSettings(
        queues=_sqs_queues(env),
        region=_aws_region(env),
        visibility_timeout=_int(env, contract.SQS_VISIBILITY_TIMEOUT),
        wait_time_seconds=_int(env, contract.SQS_WAIT_TIME_SECONDS),
    )


def worker_heartbeat_path(environ: Mapping[str, str] | None = None) -> Path:
    """The file the worker's consumer rewrites and its health check reads."""
    env = os.environ if environ is None else environ
    return Path(_text(env, contract.WORKER_HEARTBEAT_FILE))


def worker_poll_bound_seconds(environ: Mapping[str, str] | None = None) -> int:
    """How long a worker with a free slot may go without an answer from SQS and stay healthy."""
    env = os.environ if environ is None else environ
    return _int(env, contract.SQS_WAIT_TIME_SECONDS) + contract.WORKER_POLL_MARGIN_SECONDS


def fernet_key_from_seed(seed: str) -> str:
    """A valid Fernet key (url-safe base64 of 32 bytes) derived from any random string.

    Secrets Manager can generate random strings but not Fernet keys; hashing makes the
    derivation independent of the seed's length and alphabet.
    """
    return base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def _text(env: Mapping[str, str], variable: Variable) -> str:
    """The value, or the variable's default when unset or empty."""
    return env.get(variable.name, "").strip() or (variable.default or "")


def _required(env: Mapping[str, str], variable: Variable, expected: str) -> str:
    value = env.get(variable.name, "").strip()
    if not value:
        unknown = [name for name in env if not contract.is_known(name)]
        typo = difflib.get_close_matches(variable.name, unknown, n=1, cutoff=0.8)
        hint = f" ({typo[0]} is: a typo?)" if typo else ""
        raise ConfigurationError(f"{variable.name} is not set{hint}: expected {expected}")
    return value


def _database_url(env: Mapping[str, str]) -> str:
    explicit = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").strip()
    if explicit:
        if not explicit.startswith("postgresql"):
            raise ConfigurationError(
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN must be a postgresql:// URL "
                f"(or leave it unset and give {contract.DB_HOST.name}, _PORT, _USER, _PASSWORD, _NAME)"
            )
        return explicit
    host = _required(env, contract.DB_HOST, "the metadata database host name")
    port = _int(env, contract.DB_PORT)
    user = _required(env, contract.DB_USER, "the metadata database user name")
    password = _required(env, contract.DB_PASSWORD, "the metadata database password")
    name = _required(env, contract.DB_NAME, "the metadata database name")
    # Generated passwords contain characters that are special in URLs.
    return (
        f"postgresql+psycopg2://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(name, safe='')}"
    )


def _fernet_key(env: Mapping[str, str]) -> str:
    explicit = env.get("AIRFLOW__CORE__FERNET_KEY", "").strip()
    if explicit:
        try:
            valid = len(base64.urlsafe_b64decode(explicit.encode())) == 32
        except ValueError:
            valid = False
        if not valid:
            raise ConfigurationError(
                "AIRFLOW__CORE__FERNET_KEY is not a Fernet key: expected url-safe base64 of 32 bytes "
                f"(or leave it unset and give {contract.FERNET_SEED.name})"
            )
        return explicit
    return fernet_key_from_seed(_secret(env, contract.FERNET_SEED))


def _secret(env: Mapping[str, str], variable: Variable) -> str:
    value = _required(
        env, variable, f"a random string of at least {MIN_SECRET_LENGTH} characters shared by every component"
    )
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"{variable.name} is too short ({len(value)} characters): expected at least {MIN_SECRET_LENGTH}"
        )
    return value


def _http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name} is not an http(s) URL: got {value!r}")
    return value


def _execution_api_url(env: Mapping[str, str], *, required: bool) -> str | None:
    explicit = env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "").strip()
    if explicit:
        return _http_url("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", explicit)
    name = contract.API_SERVER_URL.name
    base = env.get(name, "").strip()
    if not base:
        if required:
            raise ConfigurationError(
                f"{name} is not set: expected the api-server's URL as workers reach it, e.g. http://api-server:8080"
            )
        return None
    return _http_url(name, base).rstrip("/") + "/execution/"


def _sqs_queues(env: Mapping[str, str]) -> dict[str, str]:
    name = contract.SQS_QUEUES.name
    raw = _required(
        env, contract.SQS_QUEUES, 'a JSON object of queue name to SQS URL, e.g. {"default": "https://sqs..."}'
    )
    try:
        queues = json.loads(raw)
    except json.JSONDecodeError:
        queues = None
    if not isinstance(queues, dict) or not all(isinstance(url, str) for url in queues.values()):
        raise ConfigurationError(
            f'{name} is not a JSON object of queue name to URL: expected e.g. {{"default": "https://sqs..."}}'
        )
    if "default" not in queues:
        raise ConfigurationError(
            f"{name} has no 'default' queue: Airflow sends every task there unless an operator sets queue="
        )
    for queue, url in queues.items():
        _http_url(f"{name}[{queue!r}]", url)
    return queues


def _aws_region(env: Mapping[str, str]) -> str:
    region = (env.get(contract.AWS_REGION.name) or env.get(contract.AWS_DEFAULT_REGION.name) or "").strip()
    if not region:
        raise ConfigurationError(
            f"{contract.AWS_REGION.name} is not set: expected the region of the SQS queues, e.g. us-east-1"
        )
    return region


def _admin_password(env: Mapping[str, str], *, required: bool) -> str | None:
    password = env.get(contract.ADMIN_PASSWORD.name, "")
    if required and not password:
        raise ConfigurationError(f"{contract.ADMIN_PASSWORD.name} is not set: expected the admin user's password")
    return password or None


def _port(env: Mapping[str, str], port: contract.Port) -> None:
    raw = env.get(port.variable, "").strip()
    if raw and not (raw.isdigit() and 1 <= int(raw) <= 65535):
        raise ConfigurationError(f"{port.variable} is not a TCP port: got {raw!r}, expected 1 to 65535")


def _int(env: Mapping[str, str], variable: Variable) -> int:
    assert variable.default is not None and variable.minimum is not None and variable.maximum is not None
    raw = env.get(variable.name, "").strip()
    if not raw:
        return int(variable.default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{variable.name} is not a whole number: got {raw!r}") from None
    if not variable.minimum <= value <= variable.maximum:
        raise ConfigurationError(
            f"{variable.name} is out of range: got {value}, expected {variable.minimum} to {variable.maximum}"
        )
    return value
