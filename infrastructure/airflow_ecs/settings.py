"""Every choice of a deployment, in one typed object, validated before anything is synthesized.

Profiles (`dev`, `prod`) are plain values of `DeploymentSettings`; the constructs never branch on
the profile's name, only on the values. A bad value fails with one line that names the setting and
what it accepts, e.g. ``egress: 'nat' is not allowed; expected one of: public, private``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deploy_airflow_on_ecs_fargate import contract

EGRESS_MODES = ("public", "private")
# How users reach the UI: an HTTP API (no hourly charge, HTTPS on its own name) or a load balancer.
PUBLIC_ENDPOINTS = ("api-gateway", "load-balancer")
TASK_LOG_STORES = ("cloudwatch", "s3")
# Where the components read DAGs: the stack's DAG bucket (an Airflow DAG bundle) or the image.
DAG_SOURCES = ("s3", "image")
CPU_ARCHITECTURES = ("X86_64", "ARM64")
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
# Fargate's valid CPU units -> memory (MiB) choices; other pairs fail at deploy time only.
FARGATE_SIZES: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}
# PostgreSQL majors that both Airflow 3.3 (14-18, its README's requirements table) and RDS's
# standard support cover; the minor must be one RDS still creates (cfn-lint's W3691 flags
# deprecated ones, and a bare major such as "18" is flagged too).
POSTGRES_MAJOR_VERSIONS = ("16", "17", "18")
WEEK_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class SettingsError(ValueError):
    """One line naming the bad setting and the values it accepts."""


def sized_components() -> tuple[contract.Component, ...]:
    """The long-running components with a size of their own (a service, or a container of the
    control-plane task); the others run as a container beside one of these (contract: runs_beside)."""
    return contract.SERVICES


def setting(default: Any = dataclasses.MISSING, *, doc: str, factory: Any = dataclasses.MISSING) -> Any:
    """A settings field with its one-line description (the README's settings table shows it)."""
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, kw_only=True)
class TaskSize:
    """Fargate size of a task."""

    cpu: int = setting(512, doc="Fargate CPU units (1024 = 1 vCPU)")
    memory_mib: int = setting(1024, doc="Fargate memory in MiB; Fargate allows only some values per CPU size")


@dataclass(frozen=True, kw_only=True)
class ComponentSize(TaskSize):
    """Fargate size and task count of one long-running Airflow component."""

    count: int = setting(1, doc="tasks the service runs (0 stops the component)")


@dataclass(frozen=True, kw_only=True)
class ScheduledScaling:
    """Stop the always-on components at night (the seed's scale-to-zero), start them in the morning.

    Times are HH:MM in `time_zone`; `start_days` lists the days they start again, so leaving out
    the weekend keeps everything off from Friday evening to Monday morning.
    """

    time_zone: str = setting("UTC", doc="IANA time zone of the times below")
    stop_at: str = setting("20:00", doc="HH:MM at which the api-server, scheduler, dag-processor and triggerer stop")
    start_at: str = setting("07:00", doc="HH:MM at which they start again")
    start_days: tuple[str, ...] = setting(
        ("MON", "TUE", "WED", "THU", "FRI"),
        doc="days they start again (SUN ... SAT); leave out the weekend to keep it off",
    )


@dataclass(frozen=True, kw_only=True)
class DbClean:
    """`airflow db clean` as a scheduled one-off task (EventBridge Scheduler), in a time zone."""

    time_zone: str = setting("UTC", doc="IANA time zone of `at`")
    at: str = setting("03:00", doc="HH:MM at which the cleanup task starts")
    week_days: tuple[str, ...] = setting(WEEK_DAYS, doc="days it runs (SUN ... SAT)")
    retention_days: int = setting(
        int(contract.DB_CLEAN_RETENTION_DAYS.default or 0),
        doc="metadata rows (DAG runs, task instances, logs, XComs...) older than this many days are deleted",
    )


@dataclass(frozen=True, kw_only=True)
class Alarms:
    """Where the alarms notify and when they fire (docs/decisions/0071-alarms.md)."""

    email: str | None = setting(
        None, doc="address subscribed to the alarm topic (AWS mails a confirmation link first); None: no subscription"
    )
    queue_age_minutes: int = setting(
        15, doc="alarm when task messages have waited in the queue, taken by no worker, this long (it never emptied)"
    )
    task_failures: int = setting(
        5, doc="alarm when more task instances than this fail within 15 minutes (needs metrics)"
    )
    db_free_storage_gib: int = setting(
        1,
        doc="alarm when the database's free storage falls below this (storage autoscaling acts at 10 % free, "
        "up to db_max_allocated_storage_gib)",
    )
    db_cpu_percent: int = setting(80, doc="alarm when the database's CPU stays above this for 15 minutes")
    ui_5xx: int = setting(10, doc="alarm when the UI and REST API answer more 5xx than this within 5 minutes")


@dataclass(frozen=True, kw_only=True)
class DeploymentSettings:
    name: str = setting(doc="prefix of stack and resource names: two deployments in one account must differ here")
    account: str = setting("123456789012", doc="AWS account id (the CDK CLI sets it from your credentials)")
    region: str = setting("us-east-1", doc="AWS region (the CDK CLI sets it from your credentials)")

    egress: str = setting(
        "public",
        doc="public: tasks in public subnets with public IPs and no inbound rules (no NAT cost); "
        "private: tasks in private subnets behind NAT gateways",
    )
    nat_gateways: int = setting(0, doc="NAT gateways with egress=private: 1, or 2 for one per availability zone")
    vpc_cidr: str = setting("10.0.0.0/16", doc="IPv4 range of the VPC, /16 to /20")

    allowed_client_cidrs: tuple[str, ...] = setting(
        ("0.0.0.0/0",), doc="who may reach the load balancer (UI and REST API)"
    )
    public_endpoint: str = setting(
        "load-balancer",
        doc="api-gateway: an HTTP API with a VPC link (HTTPS, no hourly charge, 30 s request limit); "
        "load-balancer: an Application Load Balancer (HTTPS with certificate_arn)",
    )
    certificate_arn: str | None = setting(
        None,
        doc="ACM certificate of the same account and region for domain_name: the load balancer serves HTTPS and "
        "redirects HTTP; the HTTP API serves domain_name with it",
    )
    plain_http: bool = setting(
        False,
        doc="the named opt-out of HTTPS: a load balancer without a certificate, only for allowed_client_cidrs "
        "narrower than the internet",
    )
    domain_name: str | None = setting(
        None, doc="DNS name users type, pointing at the load balancer or HTTP API (its own name otherwise)"
    )

    cpu_architecture: str = setting("ARM64", doc="ARM64 (Graviton, 20 % cheaper) or X86_64 for every task")
    control_plane_task: ComponentSize | None = setting(
        None,
        doc="size and count of the one task whose containers are the components sized None below "
        "(the cheapest shape, no redundancy); None: every component is a service of its own",
    )
    api_server: ComponentSize | None = setting(
        doc="size and count of the api-server (None: a container of control_plane_task)",
        factory=lambda: ComponentSize(cpu=512, memory_mib=1024),
    )
    scheduler: ComponentSize | None = setting(
        doc="size and count of the scheduler (None: a container of control_plane_task)",
        factory=lambda: ComponentSize(cpu=512, memory_mib=1024),
    )
    dag_processor: ComponentSize | None = setting(
        doc="size and count of the dag-processor (None: a container of control_plane_task)",
        factory=lambda: ComponentSize(cpu=256, memory_mib=1024),
    )
    triggerer: ComponentSize | None = setting(
        doc="size and count of the triggerer (None: a container of control_plane_task)",
        factory=lambda: ComponentSize(cpu=256, memory_mib=1024),
    )
    worker: ComponentSize = setting(
        doc="size of the Celery workers, and their count when idle (autoscaling adds up to worker_max_count)",
        factory=lambda: ComponentSize(cpu=1024, memory_mib=2048, count=0),
    )
    standalone: TaskSize = setting(
        doc="size of one-off tasks and of the deploy-time migration", factory=lambda: TaskSize(cpu=512, memory_mib=1024)
    )
    worker_concurrency: int = setting(8, doc="task slots per worker (AIRFLOW__CELERY__WORKER_CONCURRENCY)")
    worker_max_count: int = setting(4, doc="most workers autoscaling runs when tasks are queued")
    worker_scale_in_after_seconds: int = setting(
        300, doc="demand must stay lower this long before idle workers are stopped (busy ones never are)"
    )
    worker_spot_weight: int = setting(1, doc="relative weight of FARGATE_SPOT in the workers' capacity")
    worker_on_demand_weight: int = setting(0, doc="relative weight of on-demand FARGATE in the workers' capacity")
    worker_on_demand_base: int = setting(
        0, doc="the first this many workers run on on-demand FARGATE, before the weights apply"
    )

    db_instance_type: str = setting("t4g.micro", doc="RDS instance class (Graviton), without the db. prefix")
    db_engine_version: str = setting(
        "18.6",
        doc="PostgreSQL MAJOR.MINOR; RDS applies newer minors itself, CloudFormation acts only when this changes",
    )
    db_allocated_storage_gib: int = setting(20, doc="initial gp3 storage of the database")
    db_max_allocated_storage_gib: int = setting(100, doc="storage autoscaling ceiling of the database")
    db_backup_retention_days: int = setting(7, doc="days of automated database backups")
    db_multi_az: bool = setting(False, doc="a standby database in a second availability zone (doubles its price)")
    db_deletion_protection: bool = setting(
        False, doc="refuse to delete the database, take a final snapshot, keep log groups on stack deletion"
    )

    # With acks_late a message is acknowledged when its task ends, so this must exceed the longest
    # task: a premature redelivery is refused by the execution API (the task instance is already
    # running) and only wastes a worker slot; a task whose worker died is recovered by Airflow's
    # task heartbeat timeout and retries, not by redelivery.
    sqs_visibility_timeout_seconds: int = setting(
        int(contract.SQS_VISIBILITY_TIMEOUT.default or 0),
        doc="seconds before SQS hands an unacknowledged task message to another worker; longer than your longest task",
    )

    log_retention_days: int = setting(30, doc="retention of the components' own log groups")
    task_logs: str = setting("cloudwatch", doc="where task logs go: cloudwatch (a log group) or s3 (a bucket)")
    task_log_retention_days: int = setting(90, doc="days task logs are kept (log group retention or bucket expiry)")
    scheduled_scaling: ScheduledScaling | None = setting(
        None, doc="stop the control plane at night and start it in the morning (None: always on)"
    )
    dag_source: str = setting(
        "s3",
        doc="s3: DAGs come from the stack's DAG bucket (`airflow-ecs dags push`, live within a minute, no image "
        "build or deploy); image: the DAGs baked into the image (a build and deploy per change)",
    )
    db_clean: DbClean | None = setting(
        doc="delete old metadata rows on a schedule with `airflow db clean` (None: never)", factory=DbClean
    )
    ecr_keep_images: int = setting(30, doc="images the registry keeps (older ones expire)")
    container_insights: bool = setting(
        False,
        doc="CloudWatch Container Insights on the cluster: about 21 custom metrics per running service "
        "($6.30/month each); off, ECS's free service CPU and memory metrics remain",
    )
    metrics: bool = setting(
        True,
        doc="Airflow's metrics (heartbeats, loop time, tasks, pools, import errors, triggers) to CloudWatch through "
        "a CloudWatch agent beside each component that sends them: 12 custom metrics ($3.60/month) and the agents' "
        "PutMetricData calls; false: no agent, and the dashboard and alarms keep only AWS's own metrics",
    )
    alarms: Alarms = setting(doc="the alarms' e-mail and thresholds", factory=Alarms)
    cost_allocation_tags: tuple[str, ...] = setting(
        ("project=deploy-airflow-on-ecs-fargate",),
        doc="key=value tags on every resource of both stacks, for cost allocation (activate the keys in Billing)",
    )

    admin_username: str = setting("admin", doc="login of the admin user created at every deploy")
    admin_email: str = setting("admin@example.com", doc="e-mail of the admin user")

    @property
    def removal_protected(self) -> bool:
        """Keep data (final DB snapshot, log groups) when the stack is deleted."""
        return self.db_deletion_protection

    def size_of(self, component: str) -> ComponentSize | None:
        """The size of a long-running component of the catalogue (its name with '_' for '-'); None
        when it is a container of the control-plane task."""
        return getattr(self, component.replace("-", "_"))

    @property
    def shared_components(self) -> tuple[str, ...]:
        """The components that run as containers of the one control-plane task, in catalogue order."""
        return tuple(c.name for c in sized_components() if self.size_of(c.name) is None)

    def task_count_of(self, component: str) -> int:
        """Tasks running the component in the daytime: its own count, the control-plane task's, or
        that of the component it runs beside."""
        component = contract.component(component).runs_beside or component
        size = self.size_of(component) or self.control_plane_task
        assert size is not None, "validate() requires a control_plane_task for components without a size"
        return size.count

    @property
    def tags(self) -> dict[str, str]:
        return dict(tag.split("=", 1) for tag in self.cost_allocation_tags)


PROFILES: dict[str, DeploymentSettings] = {
    # Cheapest useful deployment (docs/decisions/0061): public egress (no NAT), the control plane
    # as one task of four containers, the UI through an HTTP API (no load balancer), single-AZ DB,
    # off at night.
    "dev": DeploymentSettings(
        name="airflow-dev",
        egress="public",
        public_endpoint="api-gateway",
        control_plane_task=ComponentSize(cpu=512, memory_mib=2048, count=1),
        api_server=None,
        scheduler=None,
        dag_processor=None,
        triggerer=None,
        scheduled_scaling=ScheduledScaling(),
        cost_allocation_tags=("project=deploy-airflow-on-ecs-fargate", "profile=dev"),
    ),
    # No single point of failure in the control plane (docs/decisions/0062): two of each component
    # across two zones but the dag-processor, private egress, Multi-AZ database, HTTPS required.
    "prod": DeploymentSettings(
        name="airflow-prod",
        egress="private",
        nat_gateways=2,
        api_server=ComponentSize(cpu=512, memory_mib=1024, count=2),
        scheduler=ComponentSize(cpu=512, memory_mib=1024, count=2),
        dag_processor=ComponentSize(cpu=256, memory_mib=1024, count=1),
        triggerer=ComponentSize(cpu=256, memory_mib=1024, count=2),
        worker=ComponentSize(cpu=2048, memory_mib=4096, count=0),
        worker_max_count=10,
        worker_spot_weight=3,
        worker_on_demand_weight=1,
        worker_on_demand_base=1,
        db_instance_type="t4g.small",
        db_backup_retention_days=14,
        db_multi_az=True,
        db_deletion_protection=True,
        log_retention_days=90,
        task_logs="s3",
        task_log_retention_days=365,
        cost_allocation_tags=("project=deploy-airflow-on-ecs-fargate", "profile=prod"),
    ),
}


def _fail(setting: str, value: Any, expected: str) -> SettingsError:
    return SettingsError(f"{setting}: {value!r} is not allowed; expected {expected}")


def _one_of(setting: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise _fail(setting, value, "one of: " + ", ".join(str(choice) for choice in allowed))


def _int_range(setting: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _fail(setting, value, f"an integer from {low} to {high}")


def _hh_mm(setting: str, value: str) -> tuple[int, int]:
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value)
    if not match:
        raise _fail(setting, value, "a time HH:MM from 00:00 to 23:59")
    return int(match[1]), int(match[2])


def validate(settings: DeploymentSettings) -> DeploymentSettings:
    """Return `settings` unchanged, or raise SettingsError naming the first bad setting."""
    s = settings
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,22}[a-z0-9]", s.name):
        raise _fail("name", s.name, "3-24 characters: lowercase letters, digits and '-', starting with a letter")
    if not re.fullmatch(r"\d{12}", s.account):
        raise _fail("account", s.account, "a 12-digit AWS account id")
    if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", s.region):
        raise _fail("region", s.region, "an AWS region such as us-east-1")
    _one_of("egress", s.egress, EGRESS_MODES)
    if s.egress == "private":
        _int_range("nat_gateways", s.nat_gateways, 1, 2)
    elif s.nat_gateways != 0:
        raise SettingsError(
            f"nat_gateways: {s.nat_gateways} would be ignored with egress=public (tasks reach AWS through the "
            "internet gateway); set egress=private to use NAT gateways, or nat_gateways=0"
        )
    try:
        network = ipaddress.ip_network(s.vpc_cidr)
    except ValueError:
        raise _fail("vpc_cidr", s.vpc_cidr, "an IPv4 CIDR from /16 to /20") from None
    if network.version != 4 or not 16 <= network.prefixlen <= 20:
        raise _fail("vpc_cidr", s.vpc_cidr, "an IPv4 CIDR from /16 to /20")
    if not s.allowed_client_cidrs:
        raise _fail("allowed_client_cidrs", s.allowed_client_cidrs, "at least one CIDR such as 203.0.113.0/24")
    for cidr in s.allowed_client_cidrs:
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            raise _fail("allowed_client_cidrs", cidr, "CIDRs such as 203.0.113.0/24 or 0.0.0.0/0") from None
    if s.certificate_arn is not None and not re.fullmatch(
        r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[\w-]+", s.certificate_arn
    ):
        raise _fail("certificate_arn", s.certificate_arn, "an ACM certificate ARN or None (plain HTTP)")
    if s.certificate_arn is not None and s.certificate_arn.split(":")[3:5] != [s.region, s.account]:
        raise SettingsError(
            f"certificate_arn: {s.certificate_arn!r} is not in account {s.account}, region {s.region}: "
            "a load balancer can only use a certificate of its own account and region"
        )
    if s.domain_name is not None and not re.fullmatch(r"([a-z0-9-]+\.)+[a-z]{2,}", s.domain_name):
        raise _fail("domain_name", s.domain_name, "a DNS name such as airflow.example.com or None")
    _validate_endpoint(s)
    _one_of("cpu_architecture", s.cpu_architecture, CPU_ARCHITECTURES)
    _validate_sizes(s)
    _int_range("worker_concurrency", s.worker_concurrency, 1, 64)
    _int_range("worker_spot_weight", s.worker_spot_weight, 0, 1000)
    _int_range("worker_on_demand_weight", s.worker_on_demand_weight, 0, 1000)
    if s.worker_spot_weight + s.worker_on_demand_weight == 0:
        raise _fail("worker_spot_weight", 0, "a weight above 0 for Spot or on-demand workers")
    _int_range("worker_max_count", s.worker_max_count, max(1, s.worker.count), 100)
    _int_range("worker_scale_in_after_seconds", s.worker_scale_in_after_seconds, 60, 3600)
    _int_range("worker_on_demand_base", s.worker_on_demand_base, 0, s.worker_max_count)
    if not re.fullmatch(r"(t4g|m7g|m8g|r7g|r8g)\.(micro|small|medium|large|\d*xlarge)", s.db_instance_type):
        raise _fail(
            "db_instance_type", s.db_instance_type, "a Graviton class such as t4g.micro, t4g.small or m7g.large"
        )
    if (
        not re.fullmatch(r"(\d+)\.\d+", s.db_engine_version)
        or s.db_engine_version.split(".")[0] not in POSTGRES_MAJOR_VERSIONS
    ):
        raise _fail(
            "db_engine_version",
            s.db_engine_version,
            "a PostgreSQL MAJOR.MINOR with major " + " or ".join(POSTGRES_MAJOR_VERSIONS),
        )
    _int_range("db_allocated_storage_gib", s.db_allocated_storage_gib, 20, 65536)
    _int_range("db_max_allocated_storage_gib", s.db_max_allocated_storage_gib, s.db_allocated_storage_gib, 65536)
    _int_range("db_backup_retention_days", s.db_backup_retention_days, 1, 35)
    visibility = contract.SQS_VISIBILITY_TIMEOUT
    assert visibility.minimum is not None and visibility.maximum is not None
    _int_range(
        "sqs_visibility_timeout_seconds", s.sqs_visibility_timeout_seconds, visibility.minimum, visibility.maximum
    )
    _one_of("log_retention_days", s.log_retention_days, LOG_RETENTION_DAYS)
    _one_of("task_logs", s.task_logs, TASK_LOG_STORES)
    _int_range("task_log_retention_days", s.task_log_retention_days, 1, 3653)
    if s.task_logs == "cloudwatch":
        _one_of("task_log_retention_days", s.task_log_retention_days, LOG_RETENTION_DAYS)
    if s.scheduled_scaling is not None:
        _validate_schedule(s.scheduled_scaling)
    _one_of("dag_source", s.dag_source, DAG_SOURCES)
    if s.db_clean is not None:
        _validate_db_clean(s.db_clean)
    _int_range("ecr_keep_images", s.ecr_keep_images, 1, 1000)
    _validate_alarms(s.alarms)
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", s.admin_username):
        raise _fail("admin_username", s.admin_username, "1-64 letters, digits or _ . @ -")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", s.admin_email):
        raise _fail("admin_email", s.admin_email, "an e-mail address")
    return s


def _is_open(cidrs: tuple[str, ...]) -> bool:
    return any(ipaddress.ip_network(cidr).prefixlen == 0 for cidr in cidrs)


def _validate_endpoint(s: DeploymentSettings) -> None:
    """HTTPS unless opted out by name, and no certificate, domain or opt-out that would be ignored."""
    _one_of("public_endpoint", s.public_endpoint, PUBLIC_ENDPOINTS)
    if s.public_endpoint == "api-gateway":
        if s.plain_http:
            raise SettingsError(
                "plain_http: true would be ignored with public_endpoint=api-gateway (an HTTP API serves HTTPS only)"
            )
        if (s.certificate_arn is None) != (s.domain_name is None):
            raise SettingsError(
                "certificate_arn and domain_name: an HTTP API serves a domain of your own only with both (its own "
                "execute-api name needs neither); give both or neither"
            )
        return
    if s.certificate_arn is None and not s.plain_http:
        raise SettingsError(
            "certificate_arn: None would serve the UI and its logins over plain HTTP: give an ACM certificate "
            "(certificate_arn=arn:aws:acm:REGION:ACCOUNT:certificate/ID) or opt out by name with plain_http=true"
        )
    if s.certificate_arn is not None and s.plain_http:
        raise SettingsError("plain_http: true would be ignored with certificate_arn (the load balancer serves HTTPS)")
    if s.plain_http and _is_open(s.allowed_client_cidrs):
        raise SettingsError(
            f"plain_http: true with allowed_client_cidrs={list(s.allowed_client_cidrs)} would send logins in clear "
            "text across the internet: narrow allowed_client_cidrs (e.g. your VPN's range) or give certificate_arn"
        )


def _validate_sizes(s: DeploymentSettings) -> None:
    for component in [*(c.name.replace("-", "_") for c in sized_components()), "standalone", "control_plane_task"]:
        size: TaskSize | None = getattr(s, component)
        if size is None:
            continue
        _one_of(f"{component}.cpu", size.cpu, tuple(FARGATE_SIZES))
        _one_of(f"{component}.memory_mib", size.memory_mib, FARGATE_SIZES[size.cpu])
        if isinstance(size, ComponentSize):
            _int_range(f"{component}.count", size.count, 0, 20)
    shared = s.shared_components
    if shared and s.control_plane_task is None:
        raise SettingsError(
            f"control_plane_task: None leaves {', '.join(shared)} without a task: give it a size "
            "(control_plane_task.cpu=512 control_plane_task.memory_mib=2048) or give each its own size"
        )
    if not shared and s.control_plane_task is not None:
        raise SettingsError(
            "control_plane_task would be ignored: every component has a size of its own; set e.g. "
            "api_server=none to run it in that task, or control_plane_task=none"
        )
    for tag in s.cost_allocation_tags:
        if not re.fullmatch(r"[A-Za-z0-9_.:/+@-]{1,128}=[A-Za-z0-9 _.:/+@=-]{0,256}", tag) or tag.startswith("aws:"):
            raise _fail("cost_allocation_tags", tag, "key=value tags (letters, digits and _ . : / + @ -; not aws:)")
    keys = [tag.split("=", 1)[0] for tag in s.cost_allocation_tags]
    if len(set(keys)) != len(keys):
        raise _fail("cost_allocation_tags", s.cost_allocation_tags, "each tag key once")


def _validate_alarms(alarms: Alarms) -> None:
    if alarms.email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", alarms.email):
        raise _fail("alarms.email", alarms.email, "an e-mail address or None (no subscription)")
    _int_range("alarms.queue_age_minutes", alarms.queue_age_minutes, 1, 24 * 60)
    _int_range("alarms.task_failures", alarms.task_failures, 0, 100_000)
    _int_range("alarms.db_free_storage_gib", alarms.db_free_storage_gib, 1, 65536)
    _int_range("alarms.db_cpu_percent", alarms.db_cpu_percent, 1, 100)
    _int_range("alarms.ui_5xx", alarms.ui_5xx, 0, 1_000_000)


def _validate_schedule(schedule: ScheduledScaling) -> None:
    # Checked here because no tool checks a cron or time zone before a deploy.
    try:
        zoneinfo.ZoneInfo(schedule.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _fail(
            "scheduled_scaling.time_zone", schedule.time_zone, "an IANA time zone such as Europe/Berlin"
        ) from None
    _hh_mm("scheduled_scaling.stop_at", schedule.stop_at)
    _hh_mm("scheduled_scaling.start_at", schedule.start_at)
    if not schedule.start_days:
        raise _fail("scheduled_scaling.start_days", schedule.start_days, "at least one of: " + ", ".join(WEEK_DAYS))
    for day in schedule.start_days:
        _one_of("scheduled_scaling.start_days", day, WEEK_DAYS)


def _validate_db_clean(clean: DbClean) -> None:
    try:
        zoneinfo.ZoneInfo(clean.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _fail("db_clean.time_zone", clean.time_zone, "an IANA time zone such as Europe/Berlin") from None
    _hh_mm("db_clean.at", clean.at)
    if not clean.week_days:
        raise _fail("db_clean.week_days", clean.week_days, "at least one of: " + ", ".join(WEEK_DAYS))
    for day in clean.week_days:
        _one_of("db_clean.week_days", day, WEEK_DAYS)
    retention = contract.DB_CLEAN_RETENTION_DAYS
    assert retention.minimum is not None and retention.maximum is not None
    _int_range("db_clean.retention_days", clean.retention_days, retention.minimum, retention.maximum)


def cron_fields(hh_mm: str) -> tuple[str, str]:
    """(hour, minute) of a validated HH:MM."""
    hour, minute = _hh_mm("time", hh_mm)
    return str(hour), str(minute)


def load(profile: str, overrides: Mapping[str, str] | None = None) -> DeploymentSettings:
    """A profile's settings with overrides (e.g. `-c airflow:egress=private`, `worker.count=3`), validated.

    A nested field is named with a dot (`scheduled_scaling.stop_at=21:00`); a list is comma-separated
    (`allowed_client_cidrs=203.0.113.0/24,198.51.100.7/32`); `none` clears an optional setting."""
    if profile not in PROFILES:
        raise _fail("profile", profile, "one of: " + ", ".join(PROFILES))
    settings = PROFILES[profile]
    for key, raw in (overrides or {}).items():
        settings = _override(settings, key, key, str(raw))
    return validate(settings)


def setting_fields(cls: type = DeploymentSettings, prefix: str = "") -> list[tuple[str, dataclasses.Field]]:
    """Every setting with its dotted name, nested ones (`worker.cpu`) after their parent."""
    found = []
    for item in dataclasses.fields(cls):
        name = prefix + item.name
        found.append((name, item))
        nested = _NESTED.get(item.type)
        if nested is not None:
            found += setting_fields(nested, f"{name}.")
    return found


_NESTED: dict[Any, type] = {
    "ComponentSize": ComponentSize,
    "ComponentSize | None": ComponentSize,
    "TaskSize": TaskSize,
    "ScheduledScaling | None": ScheduledScaling,
    "DbClean | None": DbClean,
    "Alarms": Alarms,
}


def _override(target: Any, key: str, path: str, raw: str) -> Any:
    head, _, rest = path.partition(".")
    fields = {item.name: item for item in dataclasses.fields(target)}
    if head not in fields:
        names = [name for name, item in setting_fields(type(target)) if item.type not in _NESTED or "None" in item.type]
        raise _fail("override", key, "a setting such as " + ", ".join(names[:8]) + " (README: settings table)")
    item = fields[head]
    if rest:
        nested = _NESTED.get(item.type)
        if nested is None:
            raise _fail("override", key, f"{head} itself: it has no fields")
        current = getattr(target, head) or nested()
        return dataclasses.replace(target, **{head: _override(current, key, rest, raw)})
    return dataclasses.replace(target, **{head: _coerce(key, raw, item.type)})


def _coerce(key: str, value: str, annotation: Any) -> Any:
    if annotation == "bool":
        if value.lower() not in ("true", "false"):
            raise _fail(key, value, "true or false")
        return value.lower() == "true"
    if annotation == "int":
        try:
            return int(value)
        except ValueError:
            raise _fail(key, value, "an integer") from None
    if annotation == "tuple[str, ...]":
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if "None" in annotation and value.lower() in ("", "none"):
        return None
    if annotation in _NESTED:
        raise _fail(
            key, value, f"its fields set one by one, e.g. {key}.{dataclasses.fields(_NESTED[annotation])[0].name}=..."
        )
    return value
