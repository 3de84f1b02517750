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

EGRESS_MODES = ("public", "private")
TASK_LOG_STORES = ("cloudwatch", "s3")
CPU_ARCHITECTURES = ("X86_64", "ARM64")
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
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
# PostgreSQL majors Airflow 3.3 supports; the minor must be one RDS still creates (cfn-lint's
# W3691 flags deprecated ones, and a bare major such as "17" is flagged too).
POSTGRES_MAJOR_VERSIONS = ("16", "17")
# SQS: 0 s to 12 h.
MAX_SQS_VISIBILITY_TIMEOUT = 12 * 60 * 60
WEEK_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class SettingsError(ValueError):
    """One line naming the bad setting and the values it accepts."""


@dataclass(frozen=True, kw_only=True)
class ComponentSize:
    """Fargate size and task count of one Airflow component."""

    cpu: int = 512
    memory_mib: int = 1024
    count: int = 1


@dataclass(frozen=True, kw_only=True)
class ScheduledScaling:
    """Stop the always-on components at night (the seed's scale-to-zero), start them in the morning.

    Times are HH:MM in `time_zone`; `start_days` lists the days they start again, so leaving out
    the weekend keeps everything off from Friday evening to Monday morning.
    """

    time_zone: str = "UTC"
    stop_at: str = "20:00"
    start_at: str = "07:00"
    start_days: tuple[str, ...] = ("MON", "TUE", "WED", "THU", "FRI")


@dataclass(frozen=True, kw_only=True)
class DeploymentSettings:
    # Prefix of stack and resource names: two deployments in one account must differ here.
    name: str
    account: str = "123456789012"
    region: str = "us-east-1"

    # Network. public: tasks in public subnets with public IPs and no inbound rules (no NAT
    # cost, the seed's choice). private: tasks in private subnets behind NAT gateways.
    egress: str = "public"
    nat_gateways: int = 1
    vpc_cidr: str = "10.0.0.0/16"

    # Who may reach the api-server's load balancer; HTTPS when a certificate is given.
    allowed_client_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    certificate_arn: str | None = None
    # DNS name users type (pointing at the load balancer); the ALB's own name otherwise.
    domain_name: str | None = None

    cpu_architecture: str = "X86_64"
    api_server: ComponentSize = field(default_factory=lambda: ComponentSize(cpu=512, memory_mib=1024))
    scheduler: ComponentSize = field(default_factory=lambda: ComponentSize(cpu=512, memory_mib=1024))
    dag_processor: ComponentSize = field(default_factory=lambda: ComponentSize(cpu=256, memory_mib=1024))
    triggerer: ComponentSize = field(default_factory=lambda: ComponentSize(cpu=256, memory_mib=1024))
    worker: ComponentSize = field(default_factory=lambda: ComponentSize(cpu=1024, memory_mib=2048))
    # One-off commands and the deploy-time migration; count is unused.
    standalone: ComponentSize = field(default_factory=lambda: ComponentSize(cpu=512, memory_mib=1024, count=0))
    worker_concurrency: int = 8
    # Worker capacity split: relative weights of FARGATE_SPOT and FARGATE tasks.
    worker_spot_weight: int = 1
    worker_on_demand_weight: int = 0

    db_instance_type: str = "t4g.micro"
    # RDS applies newer minors automatically (auto minor version upgrade); CloudFormation only
    # acts when this value changes.
    db_engine_version: str = "17.9"
    db_allocated_storage_gib: int = 20
    db_max_allocated_storage_gib: int = 100
    db_backup_retention_days: int = 7
    # prod: Multi-AZ, deletion protection and a final snapshot on delete.
    db_multi_az: bool = False
    db_deletion_protection: bool = False

    # Seconds before SQS hands an unacknowledged message to another worker. With acks_late a
    # message is acknowledged when its task ends, so this must exceed the longest task: a
    # premature redelivery is refused by the execution API (the task instance is already
    # running) and only wastes a worker slot; a task whose worker died is recovered by Airflow's
    # task heartbeat timeout and retries, not by redelivery. 6 h covers typical batch tasks.
    sqs_visibility_timeout_seconds: int = 21600

    log_retention_days: int = 30
    task_logs: str = "cloudwatch"
    task_log_retention_days: int = 90
    scheduled_scaling: ScheduledScaling | None = None
    ecr_keep_images: int = 30

    admin_username: str = "admin"
    admin_email: str = "admin@example.com"

    @property
    def removal_protected(self) -> bool:
        """Keep data (final DB snapshot, log groups) when the stack is deleted."""
        return self.db_deletion_protection


PROFILES: dict[str, DeploymentSettings] = {
    # Cheapest useful deployment: public egress (no NAT), single-AZ DB, off at night.
    "dev": DeploymentSettings(
        name="airflow-dev",
        egress="public",
        scheduled_scaling=ScheduledScaling(),
    ),
    "prod": DeploymentSettings(
        name="airflow-prod",
        egress="private",
        nat_gateways=2,
        api_server=ComponentSize(cpu=1024, memory_mib=2048, count=2),
        scheduler=ComponentSize(cpu=1024, memory_mib=2048, count=2),
        triggerer=ComponentSize(cpu=512, memory_mib=1024, count=1),
        worker=ComponentSize(cpu=2048, memory_mib=4096, count=2),
        worker_spot_weight=3,
        worker_on_demand_weight=1,
        db_instance_type="t4g.small",
        db_backup_retention_days=14,
        db_multi_az=True,
        db_deletion_protection=True,
        log_retention_days=90,
        task_logs="s3",
        task_log_retention_days=365,
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
    _int_range("nat_gateways", s.nat_gateways, 1, 2)
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
    if s.domain_name is not None and not re.fullmatch(r"([a-z0-9-]+\.)+[a-z]{2,}", s.domain_name):
        raise _fail("domain_name", s.domain_name, "a DNS name such as airflow.example.com or None")
    _one_of("cpu_architecture", s.cpu_architecture, CPU_ARCHITECTURES)
    for component in ("api_server", "scheduler", "dag_processor", "triggerer", "worker", "standalone"):
        size: ComponentSize = getattr(s, component)
        _one_of(f"{component}.cpu", size.cpu, tuple(FARGATE_SIZES))
        _one_of(f"{component}.memory_mib", size.memory_mib, FARGATE_SIZES[size.cpu])
        _int_range(f"{component}.count", size.count, 0, 20)
    _int_range("worker_concurrency", s.worker_concurrency, 1, 64)
    _int_range("worker_spot_weight", s.worker_spot_weight, 0, 1000)
    _int_range("worker_on_demand_weight", s.worker_on_demand_weight, 0, 1000)
    if s.worker_spot_weight + s.worker_on_demand_weight == 0:
        raise _fail("worker_spot_weight", 0, "a weight above 0 for Spot or on-demand workers")
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
    _int_range("sqs_visibility_timeout_seconds", s.sqs_visibility_timeout_seconds, 60, MAX_SQS_VISIBILITY_TIMEOUT)
    _one_of("log_retention_days", s.log_retention_days, LOG_RETENTION_DAYS)
    _one_of("task_logs", s.task_logs, TASK_LOG_STORES)
    _int_range("task_log_retention_days", s.task_log_retention_days, 1, 3653)
    if s.task_logs == "cloudwatch":
        _one_of("task_log_retention_days", s.task_log_retention_days, LOG_RETENTION_DAYS)
    if s.scheduled_scaling is not None:
        _validate_schedule(s.scheduled_scaling)
    _int_range("ecr_keep_images", s.ecr_keep_images, 1, 1000)
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", s.admin_username):
        raise _fail("admin_username", s.admin_username, "1-64 letters, digits or _ . @ -")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", s.admin_email):
        raise _fail("admin_email", s.admin_email, "an e-mail address")
    return s


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


def cron_fields(hh_mm: str) -> tuple[str, str]:
    """(hour, minute) of a validated HH:MM."""
    hour, minute = _hh_mm("time", hh_mm)
    return str(hour), str(minute)


def load(profile: str, overrides: Mapping[str, str] | None = None) -> DeploymentSettings:
    """A profile's settings with scalar overrides (e.g. from `-c airflow:egress=private`), validated."""
    if profile not in PROFILES:
        raise _fail("profile", profile, "one of: " + ", ".join(PROFILES))
    settings = PROFILES[profile]
    changes: dict[str, Any] = {}
    scalars = {f.name: f.type for f in dataclasses.fields(DeploymentSettings) if f.type in _SCALAR_TYPES}
    for key, raw in (overrides or {}).items():
        if key not in scalars:
            raise _fail("override", key, "a scalar setting: " + ", ".join(sorted(scalars)))
        changes[key] = _coerce(key, str(raw), scalars[key])
    return validate(dataclasses.replace(settings, **changes))


_SCALAR_TYPES = ("str", "int", "bool", "str | None")


def _coerce(key: str, value: str, annotation: str) -> Any:
    if annotation == "bool":
        if value.lower() not in ("true", "false"):
            raise _fail(key, value, "true or false")
        return value.lower() == "true"
    if annotation == "int":
        try:
            return int(value)
        except ValueError:
            raise _fail(key, value, "an integer") from None
    if annotation == "str | None" and value.lower() in ("", "none"):
        return None
    return value
