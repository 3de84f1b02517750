"""The monthly cost of a deployment, line by line, read from its synthesized CloudFormation templates
and priced with the repository's price table (airflow_ecs_cli/prices/<region>.json).

Idle: what the deployment costs with no task running, which is what it costs most of the time;
usage (requests, data, logs, busy workers) is listed as notes, with its unit price, not guessed.
What runs and how often comes from the templates alone: services' task counts, sizes, architecture
and capacity providers, the autoscaling targets' minimum (workers idle at 0) and their scheduled
actions (the night stop), so a template written by hand is priced the same way (the tests do that).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_ecs_cli.deployment import INFRASTRUCTURE, Deployment
from airflow_ecs_cli.errors import OperatorError, bad_input
from airflow_ecs_cli.prices import PriceError, PriceTable
from deploy_airflow_on_ecs_fargate import contract

MINUTES_PER_WEEK = 7 * 24 * 60
# Container Insights (standard) publishes these custom metrics per cluster, per service and per task
# family with running tasks (Amazon CloudWatch User Guide, "Amazon ECS Container Insights metrics").
INSIGHTS_METRICS_PER_CLUSTER = 11
INSIGHTS_METRICS_PER_SERVICE = 13
INSIGHTS_METRICS_PER_TASK_FAMILY = 8
# The component that puts the workers' demand metric, and how often (decision 0050).
DEMAND_PUBLISHER = "worker-demand"
DEMAND_PERIOD_VARIABLE = "AIRFLOW_WORKER_DEMAND_PERIOD_SECONDS"
DEFAULT_DEMAND_PERIOD_SECONDS = 10
# The CloudWatch agent's configuration, in its container's environment (decision 0070).
AGENT_CONFIG_VARIABLE = "CW_CONFIG_CONTENT"
# CloudWatch's free dashboards graph at most this many metrics each.
DASHBOARD_FREE_METRICS = 50
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
SYNTH_TIMEOUT_SECONDS = 600


class CostError(OperatorError):
    """A template the estimate cannot read, or a price the table lacks (one line, exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)


@dataclass(frozen=True)
class Line:
    item: str
    what: str
    # $ a month around the clock, and with the scheduled actions (the night stop) applied.
    always: float
    scheduled: float


@dataclass(frozen=True)
class Estimate:
    name: str
    region: str
    gathered: str
    hours_per_month: float
    # "the control plane runs 65 of 168 hours a week (39 %)" when a schedule stops services.
    schedule: str | None
    lines: list[Line]
    mwaa: list[Line]
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.always for line in self.lines)

    @property
    def total_scheduled(self) -> float:
        return sum(line.scheduled for line in self.lines)


# --- The templates, as far as cost goes ----------------------------------------------------------


def _ref(value: Any) -> str | None:
    """The logical id a Ref or Fn::GetAtt points at, else None."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return None


def _refs_in(value: Any) -> list[str]:
    """Every logical id referenced anywhere inside `value`."""
    found = []
    if isinstance(value, dict):
        own = _ref(value)
        if own is not None:
            found.append(own)
        for inner in value.values():
            found += _refs_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found += _refs_in(inner)
    return found


def _of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict]:
    return {
        name: resource.get("Properties", {})
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") == resource_type
    }


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CostError(f"{what}: {value!r} is not a number the estimate can price") from None


@dataclass(frozen=True)
class WeeklySchedule:
    """Capacity changes at minutes of the week (from scheduled actions): the average count."""

    changes: tuple[tuple[int, int], ...]  # (minute of the week, count from then on)

    def average(self, daytime: int) -> float:
        if not self.changes:
            return float(daytime)
        ordered = sorted(self.changes)
        # Before the first change of the week, the count is the last change's (the week wraps).
        count, last, total = ordered[-1][1], 0, 0
        for minute, new_count in ordered:
            total += count * (minute - last)
            count, last = new_count, minute
        total += count * (MINUTES_PER_WEEK - last)
        return total / MINUTES_PER_WEEK


def _cron_values(text: str, low: int, high: int, names: Sequence[str] = (), offset: int = 0) -> list[int]:
    """AWS cron field: *, ?, numbers, names, a-b ranges and lists of them."""
    if text in ("*", "?"):
        return list(range(low, high + 1))
    values: list[int] = []
    for part in text.split(","):
        bounds = []
        for piece in part.split("-"):
            piece = piece.strip().upper()
            if piece in names:
                bounds.append(names.index(piece) + offset)
            elif piece.isdigit():
                bounds.append(int(piece))
            else:
                raise CostError(f"cron field {text!r}: {piece!r} is neither a number nor a day name")
        start, end = bounds[0], bounds[-1]
        values += list(range(start, end + 1))
    return values


def weekly_minutes(expression: str) -> list[int]:
    """Minutes of the week (0 = Sunday 00:00) at which an AWS `cron(...)` schedule fires.

    Only daily and weekly schedules (day of month and month `*` or `?`) repeat every week; the
    time zone does not change how long a week's share is, so it is not needed."""
    match = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if not match:
        raise CostError(f"schedule {expression!r}: only cron(...) schedules are priced")
    fields = match.group(1).split()
    if len(fields) != 6:
        raise CostError(f"schedule {expression!r}: expected six cron fields")
    minute, hour, day_of_month, month, day_of_week, _year = fields
    if day_of_month not in ("*", "?") or month not in ("*", "?"):
        raise CostError(f"schedule {expression!r}: only daily or weekly schedules repeat every week")
    # AWS numbers days 1 (SUN) to 7 (SAT).
    days = [day - 1 for day in _cron_values(day_of_week, 1, 7, DAYS, offset=1)]
    return sorted(
        day * 1440 + h * 60 + m for day in days for h in _cron_values(hour, 0, 23) for m in _cron_values(minute, 0, 59)
    )


@dataclass(frozen=True)
class Service:
    name: str
    family: str
    architecture: str
    vcpu: float
    memory_gb: float
    daytime: int  # tasks while running (its count, or its autoscaling minimum when idle)
    average: float  # tasks on average over a week, with the scheduled actions
    # (capacity provider, weight, base); on-demand FARGATE when empty.
    strategy: tuple[tuple[str, int, int], ...]
    public_ip: bool
    containers: tuple[dict, ...]
    registered: bool  # in Cloud Map (a registered instance per task)
    maximum: int
    # `control-plane` for `airflow-dev-control-plane`: without the cluster's (deployment's) name.
    short_name: str

    @property
    def scheduled(self) -> bool:
        return self.average != self.daytime


def _scalable_targets(template: Mapping[str, Any]) -> dict[str, dict]:
    """Service logical id -> its Application Auto Scaling target."""
    found = {}
    for target in _of_type(template, "AWS::ApplicationAutoScaling::ScalableTarget").values():
        if target.get("ServiceNamespace") != "ecs":
            continue
        services = [ref for ref in _refs_in(target.get("ResourceId")) if ref in template["Resources"]]
        services = [ref for ref in services if template["Resources"][ref]["Type"] == "AWS::ECS::Service"]
        if services:
            found[services[0]] = target
    return found


def services_of(template: Mapping[str, Any]) -> list[Service]:
    resources = template.get("Resources", {})
    targets = _scalable_targets(template)
    clusters = [c.get("ClusterName") for c in _of_type(template, "AWS::ECS::Cluster").values()]
    prefixes = tuple(f"{name}-" for name in clusters if isinstance(name, str))
    found = []
    for name, props in _of_type(template, "AWS::ECS::Service").items():
        task_id = _ref(props.get("TaskDefinition"))
        if task_id is None or task_id not in resources:
            raise CostError(f"service {name}: its task definition is not in the template")
        task = resources[task_id].get("Properties", {})
        architecture = task.get("RuntimePlatform", {}).get("CpuArchitecture", "X86_64")
        count = int(_number(props.get("DesiredCount", 1), f"{name} DesiredCount"))
        maximum = count
        changes: list[tuple[int, int]] = []
        target = targets.get(name)
        if target is not None:
            # Autoscaled: idle at its minimum (workers scale from 0), the scheduled actions change it.
            count = int(_number(target.get("MinCapacity"), f"{name} MinCapacity"))
            maximum = int(_number(target.get("MaxCapacity"), f"{name} MaxCapacity"))
            for action in target.get("ScheduledActions", []):
                new_count = int(_number(action["ScalableTargetAction"]["MinCapacity"], f"{name} scheduled action"))
                changes += [(minute, new_count) for minute in weekly_minutes(action["Schedule"])]
        network = props.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
        strategy = tuple(
            (str(item["CapacityProvider"]), int(item.get("Weight", 0)), int(item.get("Base", 0)))
            for item in props.get("CapacityProviderStrategy", [])
        )
        service_name = str(props.get("ServiceName", name))
        prefix = next((p for p in prefixes if service_name.startswith(p)), "")
        found.append(
            Service(
                name=service_name,
                short_name=service_name.removeprefix(prefix),
                family=str(task.get("Family", task_id)),
                architecture=str(architecture),
                vcpu=_number(task.get("Cpu"), f"{task_id} Cpu") / 1024,
                memory_gb=_number(task.get("Memory"), f"{task_id} Memory") / 1024,
                daytime=count,
                average=WeeklySchedule(tuple(changes)).average(count),
                strategy=strategy,
                public_ip=network.get("AssignPublicIp") == "ENABLED",
                containers=tuple(task.get("ContainerDefinitions", [])),
                registered=bool(props.get("ServiceRegistries")),
                maximum=maximum,
            )
        )
    return found


def split_by_provider(tasks: float, strategy: Sequence[tuple[str, int, int]]) -> dict[str, float]:
    """Tasks per capacity provider: the base first, the rest by weight (as ECS places them)."""
    if not strategy:
        return {"FARGATE": tasks}
    split = dict.fromkeys((provider for provider, _, _ in strategy), 0.0)
    left = tasks
    for provider, _, base in strategy:
        taken = min(left, float(base))
        split[provider] += taken
        left -= taken
    weights = sum(weight for _, weight, _ in strategy)
    for provider, weight, _ in strategy:
        if weights:
            split[provider] += left * weight / weights
    return split


# --- Pricing --------------------------------------------------------------------------------------


def _price(prices: PriceTable, item: str) -> float:
    try:
        return prices[item]
    except PriceError as error:
        raise CostError(str(error)) from None


def _size(service: Service) -> str:
    return f"{service.vcpu:g} vCPU, {service.memory_gb:g} GB"


def _tasks(count: float) -> str:
    shown = f"{count:g}" if count == int(count) else f"{count:.2f}"
    return f"{shown} task" + ("" if count == 1 else "s")


@dataclass
class CloudWatchUse:
    """What the deployment uses of CloudWatch's always-free allowance (per account and month)."""

    custom_metrics: int = 0
    alarm_metrics: int = 0  # standard resolution: high-resolution alarms are not in the free tier
    calls_always: float = 0.0
    calls_scheduled: float = 0.0
    dashboards: int = 0  # of at most DASHBOARD_FREE_METRICS metrics


class _Lines:
    def __init__(self, prices: PriceTable, hours: float) -> None:
        self.prices = prices
        self.hours = hours
        self.lines: list[Line] = []
        self.cloudwatch = CloudWatchUse()

    def price(self, item: str) -> float:
        return _price(self.prices, item)

    def add(self, item: str, what: str, always: float, scheduled: float | None = None) -> None:
        self.lines.append(Line(item, what, always, always if scheduled is None else scheduled))

    def hourly(self, item: str, what: str, per_hour: float, count: float, average: float | None = None) -> None:
        average = count if average is None else average
        self.add(item, what, per_hour * count * self.hours, per_hour * average * self.hours)


def _strategy(strategy: Sequence[tuple[str, int, int]]) -> str:
    """How tasks are placed, e.g. `Spot 3 : on demand 1, the first 1 on demand`."""
    weights = {provider: weight for provider, weight, _ in strategy}
    if not weights.get("FARGATE_SPOT"):
        return "on demand"
    text = f"Spot {weights['FARGATE_SPOT']} : on demand {weights.get('FARGATE', 0)}"
    bases = [
        f"the first {base} {'on Spot' if provider == 'FARGATE_SPOT' else 'on demand'}"
        for provider, _, base in strategy
        if base
    ]
    return ", ".join([text, *bases])


def _task_months(lines: _Lines, hour: float, tasks: float, strategy: Sequence[tuple[str, int, int]]) -> float:
    """$ a month for `tasks` tasks at `hour` on demand, the Spot share at the Spot discount."""
    spot = split_by_provider(tasks, strategy).get("FARGATE_SPOT", 0.0)
    return (hour * (tasks - spot) + hour * (1 - lines.price("fargate_spot_discount")) * spot) * lines.hours


def _fargate(lines: _Lines, services: list[Service]) -> None:
    for service in services:
        arch = service.architecture.lower()
        hour = service.vcpu * lines.price(f"fargate_{arch}_vcpu_hour") + service.memory_gb * lines.price(
            f"fargate_{arch}_gb_hour"
        )
        what = f"{_short(service)}: {_tasks(service.daytime)} x {_size(service)}, {_strategy(service.strategy)}"
        if service.maximum > service.daytime:
            what += f"; up to {service.maximum} when busy at ${hour:.4f} per task-hour on demand"
            if any(provider == "FARGATE_SPOT" for provider, _, _ in service.strategy):
                what += f", ${hour * (1 - lines.price('fargate_spot_discount')):.4f} on Spot"
        lines.add(
            f"Fargate {service.architecture}",
            what,
            _task_months(lines, hour, service.daytime, service.strategy),
            _task_months(lines, hour, service.average, service.strategy),
        )


def _short(service: Service) -> str:
    return service.short_name


def _public_addresses(lines: _Lines, template: Mapping[str, Any], services: list[Service]) -> None:
    per_hour = lines.price("public_ipv4_hour")
    tasks = [s for s in services if s.public_ip]
    if tasks:
        count = sum(s.daytime for s in tasks)
        average = sum(s.average for s in tasks)
        lines.hourly(
            "Public IPv4", f"one per running task with a public IP ({_tasks(count)})", per_hour, count, average
        )
    eips = len(_of_type(template, "AWS::EC2::EIP"))
    if eips:
        lines.hourly("Public IPv4", f"{eips} Elastic IP{'s' if eips > 1 else ''} (NAT gateways)", per_hour, eips)
    for balancer in _of_type(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").values():
        if balancer.get("Scheme", "internet-facing") == "internet-facing":
            zones = len(balancer.get("Subnets", [])) or len(balancer.get("SubnetMappings", []))
            lines.hourly("Public IPv4", f"the load balancer's, one per zone ({zones})", per_hour, zones)


def _network(lines: _Lines, template: Mapping[str, Any]) -> None:
    nat = len(_of_type(template, "AWS::EC2::NatGateway"))
    if nat:
        lines.hourly(
            "NAT gateway",
            f"{nat} x ${lines.price('nat_gateway_hour')}/h (+ ${lines.price('nat_gateway_gb')}/GB processed)",
            lines.price("nat_gateway_hour"),
            nat,
        )
    for name, balancer in _of_type(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").items():
        if balancer.get("Type", "application") != "application":
            raise CostError(f"load balancer {name}: only Application Load Balancers are priced")
        reserved = balancer.get("MinimumLoadBalancerCapacity", {}).get("CapacityUnits")
        units = _number(reserved, f"{name} CapacityUnits") if reserved is not None else 1.0
        lines.hourly("Application Load Balancer", "the balancer's hours", lines.price("alb_hour"), 1)
        reason = "reserved" if reserved is not None else "the least it bills while idle"
        lines.hourly("Application Load Balancer", f"{units:g} LCU ({reason})", lines.price("alb_lcu_hour"), units)
    for name, endpoint in _of_type(template, "AWS::EC2::VPCEndpoint").items():
        if endpoint.get("VpcEndpointType", "Gateway") == "Interface":
            zones = len(endpoint.get("SubnetIds", []))
            lines.hourly(
                "VPC interface endpoint", f"{name}: {zones} zones", lines.price("interface_endpoint_az_hour"), zones
            )
    gateways = [
        e
        for e in _of_type(template, "AWS::EC2::VPCEndpoint").values()
        if e.get("VpcEndpointType", "Gateway") == "Gateway"
    ]
    if gateways:
        lines.add("VPC gateway endpoint", f"{len(gateways)} (S3): no charge", 0.0)
    apis = _of_type(template, "AWS::ApiGatewayV2::Api")
    if apis:
        links = len(_of_type(template, "AWS::ApiGatewayV2::VpcLink"))
        lines.add(
            "API Gateway HTTP API",
            f"no hourly charge (${lines.price('api_gateway_http_million_requests'):.2f} per million requests); "
            f"{links} VPC link{'s' if links != 1 else ''}, no charge",
            0.0,
        )


def _database(lines: _Lines, template: Mapping[str, Any]) -> None:
    for name, db in _of_type(template, "AWS::RDS::DBInstance").items():
        engine = str(db.get("Engine", "postgres"))
        if engine != "postgres":
            raise CostError(f"database {name}: engine {engine!r} has no prices in the table (postgres only)")
        instance = str(db.get("DBInstanceClass"))
        multi_az = db.get("MultiAZ") in (True, "true", "True")
        factor = lines.price("rds_multi_az_factor") if multi_az else 1.0
        where = "Multi-AZ" if multi_az else "single-AZ"
        lines.hourly("RDS PostgreSQL", f"{instance}, {where}", lines.price(f"rds_postgres_{instance}_hour") * factor, 1)
        storage = _number(db.get("AllocatedStorage", 20), f"{name} AllocatedStorage")
        kind = str(db.get("StorageType", "gp3"))
        if kind != "gp3":
            raise CostError(f"database {name}: storage type {kind!r} has no price in the table (gp3 only)")
        lines.add(
            "RDS storage",
            f"{storage:g} GB gp3{', twice (Multi-AZ)' if multi_az else ''}",
            storage * lines.price("rds_gp3_gb_month") * factor,
        )


def _alarm_metrics(alarm: Mapping[str, Any]) -> tuple[int, float]:
    """(metrics, shortest period) of an alarm: one for a metric alarm, one per metric a math alarm
    reads (CloudWatch bills an alarm per metric it evaluates)."""
    queries = alarm.get("Metrics")
    if not queries:
        return 1, _number(alarm.get("Period", 60), "alarm Period")
    stats = [query["MetricStat"] for query in queries if "MetricStat" in query]
    periods = [_number(stat.get("Period", 60), "alarm metric Period") for stat in stats]
    return max(1, len(stats)), min(periods, default=60.0)


def _metric_key(namespace: Any, name: Any, dimensions: Any) -> tuple[str, str, str]:
    return str(namespace), str(name), json.dumps(dimensions or [], sort_keys=True)


def _alarm_custom_metrics(alarms: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    found = set()
    for alarm in alarms:
        stats = [query["MetricStat"]["Metric"] for query in alarm.get("Metrics", []) if "MetricStat" in query]
        if not stats and alarm.get("Namespace"):
            stats = [alarm]
        for metric in stats:
            namespace = metric.get("Namespace")
            if namespace and not str(namespace).startswith("AWS/"):
                found.add(_metric_key(namespace, metric.get("MetricName"), metric.get("Dimensions")))
    return found


@dataclass(frozen=True)
class MetricsAgents:
    """The CloudWatch agents beside Airflow's containers (decision 0070): where they put the metrics
    Airflow's allow list keeps, and how often."""

    metrics: frozenset[tuple[str, str, str]]
    flush_seconds: float
    always: float  # agents running around the clock, and on average with the night stop
    scheduled: float


def metrics_agents(services: list[Service]) -> MetricsAgents | None:
    metrics: set[tuple[str, str, str]] = set()
    always = scheduled = 0.0
    flush = 60.0
    for service in services:
        environments = [{e["Name"]: e["Value"] for e in d.get("Environment", [])} for d in service.containers]
        configs = [env[AGENT_CONFIG_VARIABLE] for env in environments if AGENT_CONFIG_VARIABLE in env]
        if not configs:
            continue
        try:
            config = json.loads(configs[0])
        except (TypeError, json.JSONDecodeError):
            raise CostError(f"{service.name}: the metrics agent's {AGENT_CONFIG_VARIABLE} is not JSON") from None
        namespace = config.get("metrics", {}).get("namespace", "CWAgent")
        flush = _number(config.get("metrics", {}).get("force_flush_interval", 60), "force_flush_interval")
        always += service.daytime
        scheduled += service.average
        for environment in environments:
            prefix = environment.get("AIRFLOW__METRICS__STATSD_PREFIX", contract.STATSD_PREFIX)
            for pattern in filter(None, environment.get("AIRFLOW__METRICS__METRICS_ALLOW_LIST", "").split(",")):
                name = re.sub(r"\\(.)", r"\1", pattern.strip().removeprefix("^").removesuffix("$"))
                kept = contract.METRICS_BY_NAME.get(name)
                if kept is None:
                    raise CostError(f"{service.name}: metric pattern {pattern!r} is not one the runtime contract keeps")
                dimensions = [{"Name": "metric_type", "Value": contract.STATSD_METRIC_TYPES[kept.kind]}]
                metrics.add(_metric_key(namespace, f"{prefix}.{name}", dimensions))
    if not metrics:
        return None
    return MetricsAgents(frozenset(metrics), flush, always, scheduled)


def _monitoring(lines: _Lines, template: Mapping[str, Any], services: list[Service]) -> list[str]:
    notes = []
    alarms = list(_of_type(template, "AWS::CloudWatch::Alarm").values())
    high = standard = standard_alarms = 0
    for alarm in alarms:
        count, period = _alarm_metrics(alarm)
        if period < 60:
            high += count
        else:
            standard += count
            standard_alarms += 1
    if high:
        price = lines.price("cloudwatch_high_resolution_alarm_month")
        lines.add("CloudWatch alarms", f"{high} high-resolution (10 s)", high * price)
    lines.cloudwatch.alarm_metrics += standard
    if standard:
        what = f"{standard} standard" + (
            f" (the metrics of {standard_alarms} alarms)" if standard > standard_alarms else ""
        )
        lines.add("CloudWatch alarms", what, standard * lines.price("cloudwatch_alarm_month"))
    agents = metrics_agents(services)
    custom = _alarm_custom_metrics(alarms) | (agents.metrics if agents else set())
    lines.cloudwatch.custom_metrics += len(custom)
    if custom:
        airflow = {key for key in custom if agents and key in agents.metrics}
        named = sorted(str(metric) for _, metric, _ in custom - airflow)
        if airflow:
            named.append(f"{len(airflow)} Airflow metrics (the allow list)")
        lines.add(
            "CloudWatch custom metrics", ", ".join(named), len(custom) * lines.price("cloudwatch_custom_metric_month")
        )
    per_call = lines.price("cloudwatch_put_metric_data_1000") / 1000
    publishers_always, publishers_scheduled, period = 0.0, 0.0, float(DEFAULT_DEMAND_PERIOD_SECONDS)
    for service in services:
        for definition in service.containers:
            if list(definition.get("Command", []))[:1] == [DEMAND_PUBLISHER]:
                publishers_always += service.daytime
                publishers_scheduled += service.average
                environment = {e["Name"]: e["Value"] for e in definition.get("Environment", [])}
                period = _number(environment.get(DEMAND_PERIOD_VARIABLE, _default_period()), DEMAND_PERIOD_VARIABLE)
    if publishers_always:
        calls = 3600 / period * lines.hours
        lines.cloudwatch.calls_always += publishers_always * calls
        lines.cloudwatch.calls_scheduled += publishers_scheduled * calls
        lines.add(
            "CloudWatch PutMetricData",
            f"{_tasks(publishers_always).replace('task', 'publisher')} x one call every {period:g} s "
            f"({publishers_always * calls:,.0f} calls)",
            publishers_always * calls * per_call,
            publishers_scheduled * calls * per_call,
        )
    if agents is not None and agents.always:
        calls = 3600 / agents.flush_seconds * lines.hours
        lines.cloudwatch.calls_always += agents.always * calls
        lines.cloudwatch.calls_scheduled += agents.scheduled * calls
        lines.add(
            "CloudWatch PutMetricData",
            f"{_tasks(agents.always).replace('task', 'metrics agent')} x one call every {agents.flush_seconds:g} s "
            f"({agents.always * calls:,.0f} calls; busy workers' agents add one each)",
            agents.always * calls * per_call,
            agents.scheduled * calls * per_call,
        )
    dashboards = list(_of_type(template, "AWS::CloudWatch::Dashboard").values())
    if dashboards:
        counts = [dashboard_metrics(d.get("DashboardBody")) for d in dashboards]
        lines.cloudwatch.dashboards += sum(
            1 for count in counts if count is not None and count <= DASHBOARD_FREE_METRICS
        )
        shown = ", ".join("?" if count is None else str(count) for count in counts)
        lines.add(
            "CloudWatch dashboards",
            f"{len(dashboards)} ({shown} metrics)",
            len(dashboards) * lines.price("cloudwatch_dashboard_month"),
        )
    for cluster in _of_type(template, "AWS::ECS::Cluster").values():
        settings = {s.get("Name"): s.get("Value") for s in cluster.get("ClusterSettings", [])}
        if settings.get("containerInsights") in ("enabled", "enhanced"):
            per_metric = lines.price("cloudwatch_custom_metric_month")
            running = [s for s in services if s.daytime > 0]
            per_service = INSIGHTS_METRICS_PER_SERVICE + INSIGHTS_METRICS_PER_TASK_FAMILY
            always = INSIGHTS_METRICS_PER_CLUSTER + per_service * len(running)
            scheduled = INSIGHTS_METRICS_PER_CLUSTER + sum(per_service * s.average / s.daytime for s in running)
            counted = f"{len(running)} service{'s' if len(running) != 1 else ''}"
            lines.add(
                "Container Insights",
                f"{always} custom metrics: the cluster's, and those of {counted} with running tasks",
                always * per_metric,
                scheduled * per_metric,
            )
        else:
            notes.append(
                "Container Insights is off (container_insights=true adds about $6.30 a month per running service)"
            )
    return notes


def dashboard_metrics(body: Any) -> int | None:
    """Metrics a dashboard's widgets graph (None: a body the estimate cannot read)."""
    if isinstance(body, dict) and "Fn::Join" in body:
        separator, parts = body["Fn::Join"]
        # References sit inside JSON strings: any text keeps the JSON valid.
        body = separator.join(part if isinstance(part, str) else "ref" for part in parts)
    if not isinstance(body, str):
        return None
    try:
        widgets = json.loads(body).get("widgets", [])
    except (json.JSONDecodeError, AttributeError):
        return None
    return sum(len(widget.get("properties", {}).get("metrics", [])) for widget in widgets)


def _free_tier(lines: _Lines) -> None:
    """CloudWatch's always-free allowance (from the price table; a table without it gives none), as a
    credit: it is per account, so a second deployment in the same account (or anything else there
    that uses CloudWatch) pays these lines in full."""
    use, allowance = lines.cloudwatch, lines.prices.prices
    metrics = allowance.get("cloudwatch_free_custom_metrics", 0)
    alarm_metrics = allowance.get("cloudwatch_free_alarm_metrics", 0)
    requests = allowance.get("cloudwatch_free_api_requests", 0)
    dashboards = allowance.get("cloudwatch_free_dashboards", 0)
    per_call = lines.price("cloudwatch_put_metric_data_1000") / 1000
    fixed = 0.0
    if use.custom_metrics and metrics:
        fixed += min(use.custom_metrics, metrics) * lines.price("cloudwatch_custom_metric_month")
    if use.alarm_metrics and alarm_metrics:
        fixed += min(use.alarm_metrics, alarm_metrics) * lines.price("cloudwatch_alarm_month")
    if use.dashboards and dashboards:
        fixed += min(use.dashboards, dashboards) * lines.price("cloudwatch_dashboard_month")
    always = fixed + min(use.calls_always, requests) * per_call
    scheduled = fixed + min(use.calls_scheduled, requests) * per_call
    if always:
        lines.add(
            "CloudWatch free tier",
            f"always free per account: {metrics:g} custom metrics, {alarm_metrics:g} alarm metrics, "
            f"{requests / 1e6:g} million API requests, {dashboards:g} dashboards of up to {DASHBOARD_FREE_METRICS} "
            "metrics (not if the account already uses them)",
            -always,
            -scheduled,
        )


def _default_period() -> str:
    variable = contract.VARIABLES_BY_NAME.get(DEMAND_PERIOD_VARIABLE)
    return (variable.default if variable else None) or str(DEFAULT_DEMAND_PERIOD_SECONDS)


def _other(lines: _Lines, template: Mapping[str, Any], services: list[Service]) -> None:
    secrets = len(_of_type(template, "AWS::SecretsManager::Secret"))
    if secrets:
        lines.add("Secrets Manager", f"{secrets} secrets", secrets * lines.price("secrets_manager_secret_month"))
    keys = len(_of_type(template, "AWS::KMS::Key"))
    if keys:
        lines.add("KMS keys", f"{keys} customer managed", keys * lines.price("kms_key_month"))
    zones = len(_of_type(template, "AWS::ServiceDiscovery::PrivateDnsNamespace")) + len(
        _of_type(template, "AWS::Route53::HostedZone")
    )
    if zones:
        lines.add(
            "Route 53",
            f"{zones} hosted zone (Cloud Map's private DNS)",
            zones * lines.price("route53_hosted_zone_month"),
        )
    registered = [s for s in services if s.registered]
    if registered:
        count = sum(s.daytime for s in registered)
        average = sum(s.average for s in registered)
        price = lines.price("cloud_map_instance_month")
        lines.add(
            "Cloud Map",
            f"{count} registered instance{'s' if count != 1 else ''} (api-server tasks)",
            count * price,
            average * price,
        )


def _schedule_summary(services: list[Service]) -> str | None:
    scheduled = [s for s in services if s.scheduled and s.daytime]
    if not scheduled:
        return None
    share = scheduled[0].average / scheduled[0].daytime
    names = ", ".join(_short(s) for s in scheduled)
    return f"{names}: {share * 168:.0f} of 168 hours a week ({share:.0%}), by the scheduled actions"


def check_hours(hours: float) -> float:
    """--hours-per-month: more than 0, at most a 31-day month."""
    if not 0 < hours <= 744:
        raise bad_input(f"--hours-per-month: {hours:g} is not an hour count of a month: give more than 0, at most 744")
    return hours


def estimate(
    name: str, templates: Iterable[Mapping[str, Any]], prices: PriceTable, hours_per_month: float | None = None
) -> Estimate:
    """The idle monthly cost of the resources in `templates` (a deployment's stacks)."""
    hours = prices.hours_per_month if hours_per_month is None else check_hours(hours_per_month)
    lines = _Lines(prices, hours)
    notes: list[str] = []
    summary = None
    for template in templates:
        services = services_of(template)
        summary = summary or _schedule_summary(services)
        _fargate(lines, services)
        _public_addresses(lines, template, services)
        _network(lines, template)
        _database(lines, template)
        notes += _monitoring(lines, template, services)
        _other(lines, template, services)
    _free_tier(lines)
    notes += _usage_notes(prices)
    mwaa = [
        Line(f"MWAA {item.removeprefix('mwaa_').removesuffix('_hour')}", _mwaa_what(item), p * hours, p * hours)
        for item, p in prices.prices.items()
        if item.startswith("mwaa_") and item.endswith("_hour") and "extra" not in item
    ]
    return Estimate(name, prices.region, prices.gathered, hours, summary, lines.lines, mwaa, notes)


def _mwaa_what(item: str) -> str:
    return {
        "mwaa_mw1.small_hour": "the smallest environment class, billed every hour it exists",
        "mwaa_mw1.medium_hour": "environment class, billed every hour it exists",
        "mwaa_mw1.large_hour": "environment class, billed every hour it exists",
    }.get(item, "environment class")


def _usage_notes(prices: PriceTable) -> list[str]:
    def p(item: str) -> str:
        return f"${prices[item]:.3f}".rstrip("0").rstrip(".") if item in prices.prices else "see the price list"

    return [
        "usage, not included: busy workers (per task-hour above), NAT data "
        f"({p('nat_gateway_gb')}/GB), HTTP API requests ({p('api_gateway_http_million_requests')}/million), "
        f"CloudWatch Logs ingestion ({p('cloudwatch_logs_gb_ingested')}/GB), S3 and ECR storage, SQS requests "
        "beyond the free million, one-off tasks and the deploy's migration task",
        "MWAA Serverless bills no idle time but runs only YAML workflows of allow-listed operators, "
        "each task at most an hour: not a home for arbitrary Python DAGs",
    ]


# --- Synthesizing a deployment, and the table ----------------------------------------------------


def synthesize(target: Deployment, outdir: Path) -> list[dict]:
    """The deployment's two templates, synthesized offline by the CDK app (as `make synth`)."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION", "CDK_CONTEXT_JSON", "AWS_PROFILE")
    }
    environment.update(
        CDK_OUTDIR=str(outdir),
        AIRFLOW_ECS_PROFILE=target.profile,
        AIRFLOW_ECS_SETTINGS=" ".join(f"{name}={value}" for name, value in target.overrides.items()),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
    )
    try:
        result = subprocess.run(
            [sys.executable, "app.py"],
            cwd=INFRASTRUCTURE,
            env=environment,
            capture_output=True,
            text=True,
            timeout=SYNTH_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OperatorError(f"synth of {target.stack_name} did not finish within {SYNTH_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("b'")]
        last = lines[-1] if lines else f"exit {result.returncode}"
        raise OperatorError(f"synth of {target.stack_name} failed: {last.removeprefix('error: ')}")
    names = (target.stack_name, target.registry_stack_name)
    return [json.loads((outdir / f"{name}.template.json").read_text()) for name in names]


def deployment_templates(target: Deployment) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="airflow-ecs-cost-") as folder:
        return synthesize(target, Path(folder))


def read_template(path: Path) -> dict:
    try:
        template = json.loads(path.read_text())
    except OSError as error:
        raise bad_input(f"cannot read template {path}: {error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise bad_input(f"template {path} is not JSON: {error.msg} at line {error.lineno}") from None
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise bad_input(f"template {path} has no Resources: give a CloudFormation template (cdk.out/*.template.json)")
    return template


def _money(value: float) -> str:
    return f"{value:,.2f}"


def table(estimate: Estimate) -> str:
    """The estimate as a Markdown table (the README shows it as printed)."""
    scheduled = estimate.schedule is not None
    header = "| item | what | $/month around the clock |" + (" $/month with the night stop |" if scheduled else "")
    rule = "|---|---|--:|" + ("--:|" if scheduled else "")
    rows = [header, rule]

    def row(item: str, what: str, always: float, night: float, bold: bool = False) -> str:
        mark = "**" if bold else ""
        cells = f"| {mark}{item}{mark} | {what} | {mark}{_money(always)}{mark} |"
        return cells + (f" {mark}{_money(night)}{mark} |" if scheduled else "")

    for line in estimate.lines:
        rows.append(row(line.item, line.what, line.always, line.scheduled))
    rows.append(row("total", "idle", estimate.total, estimate.total_scheduled, bold=True))
    for line in estimate.mwaa:
        rows.append(row(line.item, line.what, line.always, line.scheduled))
    return "\n".join(rows)


def report(estimate: Estimate) -> str:
    head = (
        f"{estimate.name}: idle cost at {estimate.region} list prices of {estimate.gathered} "
        f"(airflow_ecs_cli/prices/{estimate.region}.json), {estimate.hours_per_month:g} hours a month"
    )
    lines = [head]
    if estimate.schedule:
        lines.append(f"night stop: {estimate.schedule}")
    lines += ["", table(estimate), ""]
    lines += [f"- {note}" for note in estimate.notes]
    cheapest = min(estimate.mwaa, key=lambda line: line.always, default=None)
    if cheapest is not None:
        lines.append(
            f"- {estimate.name} idles at {estimate.total / cheapest.always:.0%} of {cheapest.item}'s price"
            + (
                f" around the clock, {estimate.total_scheduled / cheapest.always:.0%} with the night stop"
                if estimate.schedule
                else ""
            )
        )
    return "\n".join(lines)
