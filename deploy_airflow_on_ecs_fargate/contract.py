"""The runtime contract, as data: the interface of every Airflow container.

What a container is given (environment variables), what it can run (the component catalogue),
which ports it opens and how its health is checked. The runtime validates against it; the local
stack, the CDK app, the image tooling and the compose tests read it instead of repeating names;
docs/runtime-contract.md is generated from it (`make docs`, checked by the tests).

Standard library only and no Airflow import: the CDK app and the health checks import it.

Adding a long-running component: an entry in COMPONENTS (and its module if it is not an Airflow
command), a service in docker-compose.yml, a size in the CDK settings. The local stack, the
entrypoint, the health checks and the CDK stack pick it up from here; tests fail until the
compose service and the size exist.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

PACKAGE = "deploy_airflow_on_ecs_fargate"
# Every container starts with this command plus the component's name (ECS entry point, compose
# command, local stack); `python` is the image's virtual environment.
ENTRYPOINT = ("python", "-m", PACKAGE)
HEALTH_COMMAND = ("python", "-m", f"{PACKAGE}.health")
IMAGE_AIRFLOW_HOME = "/opt/airflow"

# Container health checks (ECS, compose, the image's HEALTHCHECK): the command answers within
# HEALTH_ANSWER_SECONDS; the timeout leaves room for a slow start of Python, the interval must
# exceed the timeout, and the start period covers a cold Fargate start.
HEALTH_ANSWER_SECONDS = 5
HEALTH_TIMEOUT_SECONDS = 10
HEALTH_INTERVAL_SECONDS = 30
HEALTH_RETRIES = 3
HEALTH_START_PERIOD_SECONDS = 120

# A worker with a free slot is unhealthy when SQS has not answered its consumer's poll for
# AIRFLOW_SQS_WAIT_TIME_SECONDS plus this margin. A healthy consumer gets an answer at least once per
# long poll (SQS answers an empty queue after the wait time); the margin absorbs a slow answer on a
# loaded host and a few seconds of broker trouble (kombu's 599 on a reset connection, an emulator
# restart) without a restart. With ECS's 3 retries 30 s apart, a dead consumer is replaced about
# 1.5 to 2.5 minutes after its last answer (docs/decisions/0040-health-checks-that-check-the-work.md).
WORKER_POLL_MARGIN_SECONDS = 30

# The demand publisher is unhealthy when its last successful publish is this many periods old.
DEMAND_STALE_PERIODS = 6

# Fargate gives a container at most this long between SIGTERM and SIGKILL.
FARGATE_MAX_STOP_TIMEOUT_SECONDS = 120
# What ECS and compose give when nothing is set.
DEFAULT_STOP_TIMEOUT_SECONDS = 30

ALL_INTERFACES = "0.0.0.0"


@dataclass(frozen=True)
class Port:
    """A TCP port a component listens on; `variable` is the Airflow option that moves it."""

    number: int
    variable: str
    purpose: str
    # Components that connect to it from other tasks (security group rules on ECS). The
    # api-server's port is open to every Airflow task and the load balancer.
    clients: tuple[str, ...] = ()

    def resolve(self, environ: Mapping[str, str]) -> int:
        """The port in effect for this environment (the option's value, else the default)."""
        raw = environ.get(self.variable, "").strip()
        return int(raw) if raw.isdigit() else self.number


API_SERVER_PORT = Port(8080, "AIRFLOW__API__PORT", "UI, REST API and the execution API workers call")
SCHEDULER_HEALTH_PORT = Port(
    8974, "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT", "scheduler health endpoint"
)
WORKER_LOG_SERVER_PORT = Port(
    8793, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "logs of running tasks, read by the api-server", ("api-server",)
)
TRIGGERER_LOG_SERVER_PORT = Port(
    8794, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", "logs of deferred tasks, read by the api-server", ("api-server",)
)
PORTS = (API_SERVER_PORT, SCHEDULER_HEALTH_PORT, WORKER_LOG_SERVER_PORT, TRIGGERER_LOG_SERVER_PORT)

API_HEALTH_PATH = "/api/v2/monitor/health"
SCHEDULER_HEALTH_PATH = "/health"


@dataclass(frozen=True)
class HealthCheck:
    """How `python -m deploy_airflow_on_ecs_fargate.health <component>` decides.

    probe: `http` (a local endpoint answers 200), `job-heartbeat` (this host's row in Airflow's
    job table has a recent heartbeat) or `worker-heartbeat` (the file the Celery consumer rewrites
    says SQS answered its poll recently).
    """

    probe: str
    summary: str
    port: Port | None = None
    path: str = ""
    job_type: str = ""


@dataclass(frozen=True)
class Component:
    """Something a container can be asked to run: `python -m deploy_airflow_on_ecs_fargate <name>`."""

    name: str
    summary: str
    long_running: bool
    # The Airflow CLI command a long-running component replaces the entrypoint with, or, for a
    # component of this runtime's own, the module run as `python -m MODULE`.
    airflow_command: tuple[str, ...] = ()
    module: str = ""
    # On ECS, a container in that component's task instead of a service of its own.
    runs_beside: str = ""
    # Loads the Celery executor, whose configuration reads the SQS settings at import.
    needs_broker: bool = False
    health: HealthCheck | None = None
    ports: tuple[Port, ...] = ()
    # Seconds between SIGTERM and SIGKILL on ECS and compose (the local stack's `make down` too).
    stop_timeout_seconds: int = DEFAULT_STOP_TIMEOUT_SECONDS


COMPONENTS: tuple[Component, ...] = (
    Component(
        "api-server",
        "UI, REST API and the execution API",
        long_running=True,
        airflow_command=("api-server",),
        needs_broker=True,
        health=HealthCheck("http", "its health endpoint answers 200", API_SERVER_PORT, API_HEALTH_PATH),
        ports=(API_SERVER_PORT,),
    ),
    Component(
        "scheduler",
        "schedules DAG runs and sends tasks to the queue",
        long_running=True,
        airflow_command=("scheduler",),
        needs_broker=True,
        health=HealthCheck(
            "http",
            "its health server answers 200: the scheduler job's heartbeat, written through its own "
            "database connection, is under 30 s old",
            SCHEDULER_HEALTH_PORT,
            SCHEDULER_HEALTH_PATH,
        ),
        ports=(SCHEDULER_HEALTH_PORT,),
        stop_timeout_seconds=60,
    ),
    Component(
        "dag-processor",
        "parses the DAG files",
        long_running=True,
        airflow_command=("dag-processor",),
        needs_broker=True,
        health=HealthCheck(
            "job-heartbeat",
            "its job row on this host has a heartbeat under 30 s old (written through its own database connection)",
            job_type="DagProcessorJob",
        ),
    ),
    Component(
        "triggerer",
        "runs the triggers of deferred tasks",
        long_running=True,
        airflow_command=("triggerer",),
        needs_broker=True,
        health=HealthCheck(
            "job-heartbeat",
            "its job row on this host has a heartbeat under 30 s old (written through its own database connection)",
            job_type="TriggererJob",
        ),
        ports=(TRIGGERER_LOG_SERVER_PORT,),
        stop_timeout_seconds=60,
    ),
    Component(
        "worker",
        "Celery worker on SQS: runs the tasks",
        long_running=True,
        airflow_command=("celery", "worker"),
        needs_broker=True,
        health=HealthCheck(
            "worker-heartbeat",
            "its Celery consumer's heartbeat file is under 30 s old and says SQS answered a poll within "
            f"`AIRFLOW_SQS_WAIT_TIME_SECONDS` + {WORKER_POLL_MARGIN_SECONDS} s (or every slot is busy); "
            "in a warm shutdown it reports draining",
        ),
        ports=(WORKER_LOG_SERVER_PORT,),
        # Celery's warm shutdown finishes running tasks: as long as Fargate allows.
        stop_timeout_seconds=FARGATE_MAX_STOP_TIMEOUT_SECONDS,
    ),
    Component(
        "worker-demand",
        "counts queued and running task instances and publishes the workers they need (worker autoscaling)",
        long_running=True,
        module=f"{PACKAGE}.worker_demand",
        needs_broker=True,  # its queues are the workers' queues (AIRFLOW_SQS_QUEUES)
        health=HealthCheck(
            "demand-heartbeat",
            f"its heartbeat file says its loop went round within {DEMAND_STALE_PERIODS} periods",
        ),
        runs_beside="scheduler",
    ),
    Component(
        "migrate",
        "`airflow db migrate` under a lock of its own: safe when two run at once (Airflow's lock does not cover the FAB tables)",
        long_running=False,
    ),
    Component(
        "create-admin", "creates the admin user, or resets its password and role if it exists", long_running=False
    ),
    Component("init", "`migrate` then `create-admin`: the deploy-time task", long_running=False),
    Component(
        "db-clean",
        "`airflow db clean` of the rows older than `AIRFLOW_DB_CLEAN_RETENTION_DAYS` (timestamp computed when it "
        "runs), archive tables skipped: the scheduled cleanup",
        long_running=False,
    ),
    Component("airflow", "any `airflow` CLI command with the same configuration (one-off tasks)", long_running=False),
)

COMPONENTS_BY_NAME: Mapping[str, Component] = MappingProxyType({c.name: c for c in COMPONENTS})
COMPONENT_NAMES = tuple(COMPONENTS_BY_NAME)
LONG_RUNNING = tuple(c for c in COMPONENTS if c.long_running)
LONG_RUNNING_NAMES = tuple(c.name for c in LONG_RUNNING)
# Long-running components with an ECS service of their own (the others run beside one).
SERVICES = tuple(c for c in LONG_RUNNING if not c.runs_beside)
SERVICE_NAMES = tuple(c.name for c in SERVICES)
BROKER_COMPONENT_NAMES = tuple(c.name for c in COMPONENTS if c.needs_broker)
ADMIN_STEPS = ("create-admin", "init")


def component(name: str) -> Component:
    return COMPONENTS_BY_NAME[name]


@dataclass(frozen=True)
class Variable:
    """One environment variable of the contract."""

    name: str
    summary: str
    # Components that refuse to start without it (after its alternatives, see `summary`).
    required_by: tuple[str, ...] = ()
    default: str | None = None
    # Delivered as a secret (ECS `secrets`, never a task definition's plain environment) and
    # masked in every log line.
    secret: bool = False
    # A valid value, used in the docs and as the placeholder for secrets in the wiring tests.
    example: str = ""
    minimum: int | None = None
    maximum: int | None = None
    # ECS sets it in every task (Amazon ECS developer guide, "Amazon ECS environment variables").
    set_by_ecs: bool = False


_EVERY = COMPONENT_NAMES

DB_HOST = Variable(
    "AIRFLOW_DB_HOST",
    "metadata database host; on ECS from the RDS secret's `host` field "
    "(all five `AIRFLOW_DB_*` parts are ignored when `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN` is set)",
    required_by=_EVERY,
    example="airflow.abc123.us-east-1.rds.amazonaws.com",
)
DB_PORT = Variable(
    "AIRFLOW_DB_PORT",
    "metadata database port (RDS secret `port`)",
    default="5432",
    example="5432",
    minimum=1,
    maximum=65535,
)
DB_USER = Variable(
    "AIRFLOW_DB_USER", "metadata database user (RDS secret `username`)", required_by=_EVERY, example="airflow"
)
DB_PASSWORD = Variable(
    "AIRFLOW_DB_PASSWORD",
    "metadata database password (RDS secret `password`)",
    required_by=_EVERY,
    secret=True,
    example="generated-by-secrets-manager",
)
DB_NAME = Variable(
    "AIRFLOW_DB_NAME", "metadata database name (RDS secret `dbname`)", required_by=_EVERY, example="airflow"
)
DB_WAIT_SECONDS = Variable(
    "AIRFLOW_DB_WAIT_SECONDS",
    "how long a component waits for the metadata database before it gives up (exit 1)",
    default="60",
    example="60",
    minimum=0,
    maximum=3600,
)
FERNET_SEED = Variable(
    "AIRFLOW_FERNET_SEED",
    "random string of at least 32 characters; the Fernet key is derived from it (Secrets Manager cannot "
    "generate a Fernet key). Ignored when `AIRFLOW__CORE__FERNET_KEY` is set",
    required_by=_EVERY,
    secret=True,
    example="0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
)
JWT_SECRET = Variable(
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "JWT signing secret shared by every component, at least 32 characters (task tokens are signed by "
    "the scheduler and checked by the api-server)",
    required_by=_EVERY,
    secret=True,
    example="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZab",
)
API_SECRET_KEY = Variable(
    "AIRFLOW__API__SECRET_KEY",
    "API and session secret shared by every component, at least 32 characters",
    required_by=_EVERY,
    secret=True,
    example="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZcd",
)
API_SERVER_URL = Variable(
    "AIRFLOW_API_SERVER_URL",
    "the api-server's URL as workers reach it inside the network; the execution API URL "
    "(`.../execution/`) is derived from it. Not the public URL, which is `AIRFLOW__API__BASE_URL`",
    required_by=("worker",),
    example="http://api-server.airflow.internal:8080",
)
SQS_QUEUES = Variable(
    "AIRFLOW_SQS_QUEUES",
    "JSON object of Celery queue name to SQS queue URL, with a `default` queue. Only the scheduler (sends) "
    "and workers (receive) need SQS permissions",
    required_by=BROKER_COMPONENT_NAMES,
    example='{"default": "https://sqs.us-east-1.amazonaws.com/123456789012/airflow-default"}',
)
AWS_REGION = Variable(
    "AWS_REGION",
    "region of the queues; `AWS_DEFAULT_REGION` is accepted instead",
    required_by=BROKER_COMPONENT_NAMES,
    example="us-east-1",
    set_by_ecs=True,
)
AWS_DEFAULT_REGION = Variable(
    "AWS_DEFAULT_REGION",
    "the region as boto3 reads it; derived from `AWS_REGION` when unset",
    example="us-east-1",
    set_by_ecs=True,
)
ECS_AGENT_URI = Variable(
    "ECS_AGENT_URI",
    "base URL of the Fargate agent's endpoints (task scale-in protection)",
    example="http://169.254.170.2/api/task",
    set_by_ecs=True,
)
ECS_CONTAINER_METADATA_URI_V4 = Variable(
    "ECS_CONTAINER_METADATA_URI_V4",
    "task metadata endpoint",
    example="http://169.254.170.2/v4/container",
    set_by_ecs=True,
)
AWS_EXECUTION_ENV = Variable(
    "AWS_EXECUTION_ENV", "`AWS_ECS_FARGATE` on Fargate", example="AWS_ECS_FARGATE", set_by_ecs=True
)
AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = Variable(
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "where boto3 gets the task role's credentials",
    example="/v2/credentials/example",
    set_by_ecs=True,
)
SQS_VISIBILITY_TIMEOUT = Variable(
    "AIRFLOW_SQS_VISIBILITY_TIMEOUT",
    "seconds before SQS hands an unacknowledged task message to another worker; must equal the queue's "
    "own VisibilityTimeout (kombu does not set it on a predefined queue) and exceed the longest task",
    default=str(6 * 60 * 60),
    example=str(6 * 60 * 60),
    minimum=60,
    # SQS's maximum: 12 hours.
    maximum=12 * 60 * 60,
)
SQS_WAIT_TIME_SECONDS = Variable(
    "AIRFLOW_SQS_WAIT_TIME_SECONDS",
    "long-poll wait of a worker's receive call: one idle ReceiveMessage per queue per this many seconds",
    default="20",
    example="20",
    minimum=1,
    maximum=20,
)
SQS_ENDPOINT = Variable(
    "AWS_ENDPOINT_URL_SQS", "only for an SQS emulator (local stack, compose)", example="http://127.0.0.1:9324"
)
ADMIN_USERNAME = Variable("AIRFLOW_ADMIN_USERNAME", "the admin user's login", default="admin", example="admin")
ADMIN_PASSWORD = Variable(
    "AIRFLOW_ADMIN_PASSWORD",
    "the admin user's password, set again at every deploy",
    required_by=ADMIN_STEPS,
    secret=True,
    example="generated-by-secrets-manager",
)
ADMIN_EMAIL = Variable(
    "AIRFLOW_ADMIN_EMAIL", "the admin user's e-mail", default="admin@example.com", example="admin@example.com"
)
WORKER_HEARTBEAT_FILE = Variable(
    "AIRFLOW_WORKER_HEARTBEAT_FILE",
    "file the worker's Celery consumer rewrites every 5 s: when SQS last answered its poll, and whether it "
    "is draining; the worker's health check reads it",
    default="/tmp/airflow-worker-heartbeat",
    example="/tmp/airflow-worker-heartbeat",
)
LISTEN_ADDRESS = Variable(
    "AIRFLOW_LISTEN_ADDRESS",
    "address every server of a component binds (api-server, log servers, scheduler health): all "
    "interfaces inside a container, 127.0.0.1 in the local stack",
    default=ALL_INTERFACES,
    example="127.0.0.1",
)
AIRFLOW_HOME = Variable(
    "AIRFLOW_HOME",
    "Airflow's home folder (`dags/`, `plugins/`, local logs)",
    default=IMAGE_AIRFLOW_HOME,
    example=IMAGE_AIRFLOW_HOME,
)
AWS_ACCESS_KEY_ID = Variable(
    "AWS_ACCESS_KEY_ID", "only for an emulator: on AWS the task role gives credentials", example="local-only"
)
AWS_SECRET_ACCESS_KEY = Variable(
    "AWS_SECRET_ACCESS_KEY", "only for an emulator: on AWS the task role gives credentials", example="local-only"
)
PYTHONUNBUFFERED = Variable(
    "PYTHONUNBUFFERED", "log lines reach the log driver at once (set by the images)", example="1"
)
METRIC_NAMESPACE = Variable(
    "AIRFLOW_METRIC_NAMESPACE",
    "CloudWatch namespace of the deployment's own metrics (the scheduler's task may publish there only)",
    required_by=("worker-demand",),
    example="Airflow/airflow-dev",
)
AWS_ENDPOINT_URL_CLOUDWATCH = Variable(
    "AWS_ENDPOINT_URL_CLOUDWATCH", "only for an emulator (the local stack)", example="http://127.0.0.1:9324"
)
WORKER_MAX_COUNT = Variable(
    "AIRFLOW_WORKER_MAX_COUNT",
    "most workers autoscaling runs: the demand metric never asks for more",
    default="4",
    example="4",
    minimum=1,
    maximum=100,
)
WORKER_SCALE_IN_AFTER_SECONDS = Variable(
    "AIRFLOW_WORKER_SCALE_IN_AFTER_SECONDS",
    "the demand metric holds its highest value this long, so workers are removed only after demand stayed lower",
    default="300",
    example="300",
    minimum=60,
    maximum=3600,
)
WORKER_DEMAND_PERIOD_SECONDS = Variable(
    "AIRFLOW_WORKER_DEMAND_PERIOD_SECONDS",
    "seconds between two publications of the demand metric (the alarms evaluate every 10 s)",
    default="10",
    example="10",
    minimum=1,
    maximum=60,
)
WORKER_DEMAND_HEARTBEAT_FILE = Variable(
    "AIRFLOW_WORKER_DEMAND_HEARTBEAT_FILE",
    "file the demand publisher rewrites after each publication; its health",
    default="/tmp/airflow-worker-demand-heartbeat",
    example="/tmp/airflow-worker-demand-heartbeat",
)

DAGS_BUCKET = Variable(
    "AIRFLOW_DAGS_BUCKET",
    "S3 bucket whose objects are the DAG files: the runtime configures an S3 DAG bundle named `dags` on it "
    "(the dag-processor fetches it, each task fetches it before it runs). Unset: the DAGs folder "
    "(`AIRFLOW_HOME/dags`). Ignored when `AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST` is set",
    example="airflow-dev-dagbundlebucket-0123abcd",
)
DAGS_REFRESH_SECONDS = Variable(
    "AIRFLOW_DAGS_REFRESH_SECONDS",
    "how often the dag-processor fetches the DAG bucket (the bundle's `refresh_interval`): a pushed DAG is "
    "live within about this plus its parse. Each fetch is one S3 LIST (about $0.43 a month at 30 s)",
    default="30",
    example="30",
    minimum=5,
    maximum=3600,
)
DB_CLEAN_RETENTION_DAYS = Variable(
    "AIRFLOW_DB_CLEAN_RETENTION_DAYS",
    "`db-clean` deletes the metadata rows (DAG runs, task instances, logs, XComs, jobs...) older than this many days",
    default="90",
    example="90",
    minimum=1,
    maximum=3650,
)

VARIABLES: tuple[Variable, ...] = (
    DB_HOST,
    DB_PORT,
    DB_USER,
    DB_PASSWORD,
    DB_NAME,
    DB_WAIT_SECONDS,
    FERNET_SEED,
    JWT_SECRET,
    API_SECRET_KEY,
    API_SERVER_URL,
    SQS_QUEUES,
    AWS_REGION,
    AWS_DEFAULT_REGION,
    ECS_AGENT_URI,
    ECS_CONTAINER_METADATA_URI_V4,
    AWS_EXECUTION_ENV,
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI,
    SQS_VISIBILITY_TIMEOUT,
    SQS_WAIT_TIME_SECONDS,
    SQS_ENDPOINT,
    ADMIN_USERNAME,
    ADMIN_PASSWORD,
    ADMIN_EMAIL,
    WORKER_HEARTBEAT_FILE,
    LISTEN_ADDRESS,
    AIRFLOW_HOME,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
    PYTHONUNBUFFERED,
    METRIC_NAMESPACE,
    AWS_ENDPOINT_URL_CLOUDWATCH,
    WORKER_MAX_COUNT,
    WORKER_SCALE_IN_AFTER_SECONDS,
    WORKER_DEMAND_PERIOD_SECONDS,
    WORKER_DEMAND_HEARTBEAT_FILE,
    DAGS_BUCKET,
    DAGS_REFRESH_SECONDS,
    DB_CLEAN_RETENTION_DAYS,
)
# Airflow's own default for [celery] worker_concurrency, used by the demand publisher when the
# option is not set (the CDK app sets it for workers and publisher alike).
AIRFLOW_DEFAULT_WORKER_CONCURRENCY = 16
VARIABLES_BY_NAME: Mapping[str, Variable] = MappingProxyType({v.name: v for v in VARIABLES})
SECRET_NAMES = tuple(v.name for v in VARIABLES if v.secret)
SET_BY_ECS = tuple(v for v in VARIABLES if v.set_by_ecs)

# Airflow's own families of variables: any option (`AIRFLOW__SECTION__KEY`, also with `_CMD` or
# `_SECRET`), connections and variables. They pass through to Airflow unchanged.
STANDARD_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")


def variable(name: str) -> Variable:
    return VARIABLES_BY_NAME[name]


def is_known(name: str) -> bool:
    """A contract variable or one of Airflow's own families."""
    return name in VARIABLES_BY_NAME or name.startswith(STANDARD_PREFIXES)


def unknown_names(names: Iterable[str]) -> list[str]:
    """Each name the contract does not know, with the closest known name when there is one."""
    problems = []
    for name in sorted(set(names)):
        if is_known(name):
            continue
        close = difflib.get_close_matches(name, VARIABLES_BY_NAME, n=1, cutoff=0.8)
        problems.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return problems


def required_for(component_name: str) -> tuple[Variable, ...]:
    return tuple(v for v in VARIABLES if component_name in v.required_by)


def is_wildcard(address: str) -> bool:
    return address in ("", ALL_INTERFACES, "::")


def local_address(listen_address: str) -> str:
    """Where a process on the same host reaches a server bound to `listen_address`."""
    return "127.0.0.1" if is_wildcard(listen_address) else listen_address


# --- Metrics -----------------------------------------------------------------------------------
# Components send Airflow's metrics as StatsD over UDP to a collector in their own task (on ECS the
# CloudWatch agent, a sidecar: docs/decisions/0070-metrics-collector.md). Airflow's allow list keeps
# every other metric inside the process, so CloudWatch bills only the ones below, one custom metric
# each: what the dashboard and the alarms read.

# The collector's UDP port inside a task (the CloudWatch agent's StatsD default).
STATSD_PORT = 8125
# Airflow's default prefix: in CloudWatch the metrics are named `airflow.<name>`.
STATSD_PREFIX = "airflow"
# StatsD kinds and the `metric_type` dimension the CloudWatch agent gives each.
STATSD_METRIC_TYPES = MappingProxyType({"counter": "counter", "gauge": "gauge", "timer": "timing"})


@dataclass(frozen=True)
class Metric:
    """One Airflow metric the deployment keeps (Airflow's stat name, without the prefix)."""

    name: str
    kind: str  # counter, gauge or timer
    emitted_by: tuple[str, ...]
    summary: str
    # A heartbeat counter: one increment per this many seconds per running instance (Airflow's
    # default interval); the alarms count instances by it.
    heartbeat_seconds: int | None = None


METRICS: tuple[Metric, ...] = (
    Metric(
        "scheduler_heartbeat",
        "counter",
        ("scheduler",),
        "one per scheduler heartbeat (`[scheduler] scheduler_heartbeat_sec`)",
        heartbeat_seconds=5,
    ),
    Metric("scheduler.scheduler_loop_duration", "timer", ("scheduler",), "milliseconds one scheduling loop took"),
    Metric("executor.queued_tasks", "gauge", ("scheduler",), "task instances sent to the queue, not yet started"),
    Metric("executor.running_tasks", "gauge", ("scheduler",), "task instances running on workers"),
    Metric("pool.open_slots.default_pool", "gauge", ("scheduler",), "free slots of `default_pool`"),
    Metric("ti_successes", "counter", ("worker",), "task instances that succeeded"),
    Metric(
        "ti_failures",
        "counter",
        ("worker", "scheduler"),
        "task instances that failed (on the worker, or failed by the scheduler: heartbeat timeout, lost worker)",
    ),
    Metric(
        "dag_processor_heartbeat",
        "counter",
        ("dag-processor",),
        "one per dag-processor heartbeat (`[scheduler] job_heartbeat_sec`)",
        heartbeat_seconds=5,
    ),
    Metric("dag_processing.import_errors", "gauge", ("dag-processor",), "DAG files that failed to import"),
    Metric(
        "triggerer_heartbeat",
        "counter",
        ("triggerer",),
        "one per triggerer heartbeat (`[triggerer] job_heartbeat_sec`)",
        heartbeat_seconds=5,
    ),
    Metric("triggers.running", "gauge", ("triggerer",), "triggers a triggerer runs"),
    Metric("triggerer.capacity_left", "gauge", ("triggerer",), "more triggers a triggerer could take"),
)
METRICS_BY_NAME: Mapping[str, Metric] = MappingProxyType({m.name: m for m in METRICS})
# Components none of whose metrics are kept: they send nothing and need no collector.
METRIC_EMITTERS = tuple(c.name for c in LONG_RUNNING if any(c.name in m.emitted_by for m in METRICS))


def metrics_allow_list() -> str:
    """`[metrics] metrics_allow_list`: Airflow matches each comma-separated regular expression against
    the stat name, so each is anchored to one name."""
    return ",".join("^" + re.escape(m.name) + "$" for m in METRICS)


def statsd_environment(host: str, port: int = STATSD_PORT) -> dict[str, str]:
    """The Airflow options that send the kept metrics to a StatsD collector at host:port."""
    return {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": host,
        "AIRFLOW__METRICS__STATSD_PORT": str(port),
        "AIRFLOW__METRICS__STATSD_PREFIX": STATSD_PREFIX,
        "AIRFLOW__METRICS__METRICS_ALLOW_LIST": metrics_allow_list(),
    }
