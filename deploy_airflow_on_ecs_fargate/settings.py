"""Configuration from the environment, in one place.

Every container (ECS task, compose service, local-stack process) gives its configuration as
environment variables (docs/runtime-contract.md). This module validates them for one component
and turns them into the ``AIRFLOW__*`` variables Airflow reads, so that a missing or malformed
value stops the process at start with one line, instead of a traceback from deep inside Airflow.

It deliberately imports nothing from Airflow: health checks and the entrypoint use it and must
stay fast.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

LONG_RUNNING_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "worker")
ONE_SHOT_COMPONENTS = ("migrate", "create-admin", "init", "airflow")
COMPONENTS = LONG_RUNNING_COMPONENTS + ONE_SHOT_COMPONENTS

# Every long-running component loads the Celery executor, whose app reads the SQS settings
# (celery_config) at import; only the scheduler and workers actually send or receive.
BROKER_COMPONENTS = LONG_RUNNING_COMPONENTS

MIN_SECRET_LENGTH = 32

# Redelivery of an unacknowledged message happens after this many seconds (see
# docs/decisions/0002-celery-on-sqs-polling-and-visibility.md). It must equal the queue's own
# VisibilityTimeout attribute: with predefined queues kombu does not set it on the queue.
DEFAULT_SQS_VISIBILITY_TIMEOUT = 6 * 60 * 60
# SQS allows 0 s to 12 h.
MAX_SQS_VISIBILITY_TIMEOUT = 12 * 60 * 60

# Long polling: an idle worker makes one ReceiveMessage call per queue every 20 s (SQS's maximum
# wait), about 130,000 requests a month, yet a message is handed over the moment it arrives.
DEFAULT_SQS_WAIT_TIME_SECONDS = 20

DEFAULT_WORKER_HEARTBEAT_FILE = "/tmp/airflow-worker-heartbeat"

FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"

# Defaults every component starts with. Any AIRFLOW__* variable the user sets wins, so the
# standard Airflow way of changing a setting keeps working everywhere.
AIRFLOW_DEFAULTS: dict[str, str] = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    # Real users, roles and hashed passwords; SimpleAuthManager warns it is not for production.
    "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CELERY__BROKER_URL": "sqs://",
    "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "deploy_airflow_on_ecs_fargate.celery_config.CELERY_CONFIG",
    # SQS cannot carry Celery's broadcast (remote control) messages: only predefined queues exist.
    "AIRFLOW__CELERY__WORKER_ENABLE_REMOTE_CONTROL": "False",
    "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": "deploy_airflow_on_ecs_fargate.logging_config.LOGGING_CONFIG",
    # Component logs go to stdout, which is what ECS ships to CloudWatch.
    "AIRFLOW__LOGGING__DAG_PROCESSOR_LOG_TARGET": "stdout",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
    # The scheduler's loop sleeps this long when it found nothing to do (Airflow's default: 1 s).
    # It bounds trigger-to-queued latency; costs only metadata-DB queries, no SQS requests.
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
}

# Per-component defaults, applied on top of AIRFLOW_DEFAULTS (the user's AIRFLOW__* still win).
COMPONENT_DEFAULTS: dict[str, dict[str, str]] = {
    # Syncing FAB's roles and permissions costs the api-server about 7 s of CPU at every start.
    # The admin step (create-admin / init, run at every deploy) syncs them instead, once.
    "api-server": {"AIRFLOW__FAB__UPDATE_FAB_PERMS": "False"},
}


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
class Settings:
    component: str
    database_url: str
    fernet_key: str
    jwt_secret: str
    api_secret_key: str
    execution_api_url: str | None
    broker: BrokerSettings | None
    worker_heartbeat_file: str
    admin_username: str
    admin_password: str | None
    admin_email: str
    db_wait_seconds: float

    def airflow_environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The environment to start Airflow with: ``environ`` plus derived values and defaults."""
        derived = {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
            "AIRFLOW__API__SECRET_KEY": self.api_secret_key,
        }
        if self.execution_api_url:
            derived["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = self.execution_api_url
        if self.broker:
            derived["AWS_DEFAULT_REGION"] = self.broker.region
            # Airflow's own default Celery config reads this too (and warns when it is missing);
            # celery_config uses the same value.
            derived["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"] = str(
                self.broker.visibility_timeout
            )
        defaults = {**AIRFLOW_DEFAULTS, **COMPONENT_DEFAULTS.get(self.component, {})}
        return {**defaults, **derived, **environ}


def load_settings(component: str, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate the environment for ``component``; raise ConfigurationError on the first problem."""
    env = os.environ if environ is None else environ
    if component not in COMPONENTS:
        raise ConfigurationError(f"unknown component {component!r}: expected one of {', '.join(COMPONENTS)}")
    needs_broker = component in BROKER_COMPONENTS
    return Settings(
        component=component,
        database_url=_database_url(env),
        fernet_key=_fernet_key(env),
        jwt_secret=_secret(env, "AIRFLOW__API_AUTH__JWT_SECRET"),
        api_secret_key=_secret(env, "AIRFLOW__API__SECRET_KEY"),
        execution_api_url=_execution_api_url(env, required=component == "worker"),
        broker=load_broker_settings(env) if needs_broker else None,
        worker_heartbeat_file=env.get("AIRFLOW_WORKER_HEARTBEAT_FILE") or DEFAULT_WORKER_HEARTBEAT_FILE,
        admin_username=env.get("AIRFLOW_ADMIN_USERNAME") or "admin",
        admin_password=_admin_password(env, required=component in ("create-admin", "init")),
        admin_email=env.get("AIRFLOW_ADMIN_EMAIL") or "admin@example.com",
        db_wait_seconds=_int(env, "AIRFLOW_DB_WAIT_SECONDS", 60, minimum=0, maximum=3600),
    )


def load_broker_settings(environ: Mapping[str, str] | None = None) -> BrokerSettings:
    """Validate the SQS settings; raise ConfigurationError on the first problem."""
    env = os.environ if environ is None else environ
    return BrokerSettings(
        queues=_sqs_queues(env),
        region=_aws_region(env),
        visibility_timeout=_int(
            env,
            "AIRFLOW_SQS_VISIBILITY_TIMEOUT",
            DEFAULT_SQS_VISIBILITY_TIMEOUT,
            minimum=1,
            maximum=MAX_SQS_VISIBILITY_TIMEOUT,
        ),
        wait_time_seconds=_int(
            env, "AIRFLOW_SQS_WAIT_TIME_SECONDS", DEFAULT_SQS_WAIT_TIME_SECONDS, minimum=1, maximum=20
        ),
    )


def fernet_key_from_seed(seed: str) -> str:
    """A valid Fernet key (url-safe base64 of 32 bytes) derived from any random string.

    Secrets Manager can generate random strings but not Fernet keys; hashing makes the
    derivation independent of the seed's length and alphabet.
    """
    return base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def _required(env: Mapping[str, str], name: str, expected: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set: expected {expected}")
    return value


def _database_url(env: Mapping[str, str]) -> str:
    explicit = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").strip()
    if explicit:
        if not explicit.startswith("postgresql"):
            raise ConfigurationError(
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN must be a postgresql:// URL "
                "(or leave it unset and give AIRFLOW_DB_HOST, _PORT, _USER, _PASSWORD, _NAME)"
            )
        return explicit
    host = _required(env, "AIRFLOW_DB_HOST", "the metadata database host name")
    port = _int(env, "AIRFLOW_DB_PORT", 5432, minimum=1, maximum=65535)
    user = _required(env, "AIRFLOW_DB_USER", "the metadata database user name")
    password = _required(env, "AIRFLOW_DB_PASSWORD", "the metadata database password")
    name = _required(env, "AIRFLOW_DB_NAME", "the metadata database name")
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
                "(or leave it unset and give AIRFLOW_FERNET_SEED)"
            )
        return explicit
    seed = _required(env, "AIRFLOW_FERNET_SEED", f"a random string of at least {MIN_SECRET_LENGTH} characters")
    if len(seed) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"AIRFLOW_FERNET_SEED is too short ({len(seed)} characters): expected at least {MIN_SECRET_LENGTH}"
        )
    return fernet_key_from_seed(seed)


def _secret(env: Mapping[str, str], name: str) -> str:
    value = _required(
        env, name, f"a random string of at least {MIN_SECRET_LENGTH} characters shared by every component"
    )
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"{name} is too short ({len(value)} characters): expected at least {MIN_SECRET_LENGTH}"
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
    base = env.get("AIRFLOW_API_SERVER_URL", "").strip()
    if not base:
        if required:
            raise ConfigurationError(
                "AIRFLOW_API_SERVER_URL is not set: expected the api-server's URL as workers reach it, "
                "e.g. http://api-server:8080"
            )
        return None
    return _http_url("AIRFLOW_API_SERVER_URL", base).rstrip("/") + "/execution/"


def _sqs_queues(env: Mapping[str, str]) -> dict[str, str]:
    raw = _required(
        env, "AIRFLOW_SQS_QUEUES", 'a JSON object of queue name to SQS URL, e.g. {"default": "https://sqs..."}'
    )
    try:
        queues = json.loads(raw)
    except json.JSONDecodeError:
        queues = None
    if not isinstance(queues, dict) or not all(isinstance(url, str) for url in queues.values()):
        raise ConfigurationError(
            'AIRFLOW_SQS_QUEUES is not a JSON object of queue name to URL: expected e.g. {"default": "https://sqs..."}'
        )
    if "default" not in queues:
        raise ConfigurationError(
            "AIRFLOW_SQS_QUEUES has no 'default' queue: Airflow sends every task there unless an operator sets queue="
        )
    for name, url in queues.items():
        _http_url(f"AIRFLOW_SQS_QUEUES[{name!r}]", url)
    return queues


def _aws_region(env: Mapping[str, str]) -> str:
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
    if not region:
        raise ConfigurationError("AWS_REGION is not set: expected the region of the SQS queues, e.g. us-east-1")
    return region


def _admin_password(env: Mapping[str, str], *, required: bool) -> str | None:
    password = env.get("AIRFLOW_ADMIN_PASSWORD", "")
    if required and not password:
        raise ConfigurationError("AIRFLOW_ADMIN_PASSWORD is not set: expected the admin user's password")
    return password or None


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} is not a whole number: got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigurationError(f"{name} is out of range: got {value}, expected {minimum} to {maximum}")
    return value
