"""Metrics, dashboard and alarms (infrastructure/airflow_ecs/metrics_agent.py, dashboard.py, alarms.py;
decisions 0070 and 0071), read from the session's synthesized templates."""

from __future__ import annotations

import json
import re

import pytest

from airflow_ecs import metrics_agent
from airflow_ecs.alarms import minutes_after
from deploy_airflow_on_ecs_fargate import contract
from tests.infrastructure.templates import DEPLOYMENTS, METRICS_AGENT, airflow_containers, resources

WITH_METRICS = [key for key, settings in DEPLOYMENTS.items() if settings.metrics]
STATSD = "Airflow/{name}/StatsD"


def namespace(deployment: str) -> str:
    return STATSD.format(name=DEPLOYMENTS[deployment].name)


def services(template: dict) -> dict[str, dict]:
    """ECS service name -> the properties of its task definition."""
    return {
        service["Properties"]["ServiceName"]: template["Resources"][service["Properties"]["TaskDefinition"]["Ref"]][
            "Properties"
        ]
        for service in resources(template, "AWS::ECS::Service").values()
    }


def agent_of(task: dict) -> dict | None:
    found = [d for d in task["ContainerDefinitions"] if d["Name"] == METRICS_AGENT]
    assert len(found) <= 1
    return found[0] if found else None


def environment(definition: dict) -> dict:
    return {item["Name"]: item["Value"] for item in definition.get("Environment", [])}


def metrics_options(definition: dict) -> dict:
    return {name: value for name, value in environment(definition).items() if name.startswith("AIRFLOW__METRICS__")}


# --- The agent beside the components -----------------------------------------------------------


@pytest.mark.parametrize("deployment", WITH_METRICS)
def test_an_agent_runs_beside_every_component_that_sends_kept_metrics_and_only_there(raw_templates, deployment):
    template = raw_templates[deployment]
    settings = DEPLOYMENTS[deployment]
    expected_config = metrics_agent.MetricsAgent(namespace(deployment), settings.region).config()
    with_agent = []
    for name, task in services(template).items():
        components = [d["Name"] for d in airflow_containers(task)]
        agent = agent_of(task)
        sends = [c for c in components if c in contract.METRIC_EMITTERS]
        assert (agent is not None) == bool(sends), name
        for definition in airflow_containers(task):
            # Airflow sends to the agent in its own task, with the contract's allow list; components
            # none of whose metrics are kept (api-server, worker-demand) send nothing.
            if definition["Name"] in contract.METRIC_EMITTERS:
                assert metrics_options(definition) == contract.statsd_environment("127.0.0.1"), name
            else:
                assert metrics_options(definition) == {}, (name, definition["Name"])
        if agent is None:
            continue
        with_agent.append(name)
        # Not essential: a collector that dies must not stop a scheduler; ECS restarts it in place.
        assert agent["Essential"] is False
        assert agent["RestartPolicy"]["Enabled"] is True
        assert "HealthCheck" not in agent
        assert agent["Image"] == metrics_agent.IMAGE
        assert agent["Memory"] == metrics_agent.MEMORY_MIB
        assert json.loads(environment(agent)[metrics_agent.CONFIG_VARIABLE]) == expected_config
        assert agent["LogConfiguration"]["Options"]["awslogs-stream-prefix"] == METRICS_AGENT
        # A lone Airflow container leaves the agent its memory; in a shared task none reserves any.
        airflow = airflow_containers(task)
        if len(airflow) == 1:
            assert airflow[0]["Memory"] == int(task["Memory"]) - metrics_agent.MEMORY_MIB
        else:
            assert all("Memory" not in d for d in airflow)
    assert any("worker" in name for name in with_agent)
    assert not any(name.endswith("-api-server") for name in with_agent)


def test_the_agent_listens_on_loopback_and_keeps_airflows_names(raw_templates):
    config = metrics_agent.MetricsAgent(namespace("dev"), "us-east-1").config()
    statsd = config["metrics"]["metrics_collected"]["statsd"]
    assert statsd["service_address"] == f"127.0.0.1:{contract.STATSD_PORT}"
    assert statsd["metric_separator"] == "."
    assert config["agent"]["omit_hostname"] is True  # no host dimension: a new task is no new metric
    assert config["metrics"]["force_flush_interval"] == 60


def test_the_agent_image_is_pinned_to_a_version():
    repository, tag = metrics_agent.IMAGE.rsplit(":", 1)
    assert repository == "public.ecr.aws/cloudwatch-agent/cloudwatch-agent"
    assert re.fullmatch(r"\d+\.\d+\.\d+(b\d+)?", tag), tag


def test_one_off_tasks_have_no_agent(raw_templates):
    for deployment, template in raw_templates.items():
        if deployment.endswith("-registry"):
            continue
        for task in resources(template, "AWS::ECS::TaskDefinition").values():
            names = [d["Name"] for d in task["Properties"]["ContainerDefinitions"]]
            if "standalone" in names:
                assert names == ["standalone"], deployment
                assert metrics_options(task["Properties"]["ContainerDefinitions"][0]) == {}


def test_metrics_off_means_no_agent_and_no_statsd(raw_templates):
    assert DEPLOYMENTS["dev-plain-http"].metrics is False
    template = raw_templates["dev-plain-http"]
    for task in services(template).values():
        assert agent_of(task) is None
        assert all(metrics_options(d) == {} for d in task["ContainerDefinitions"])
    assert "StatsD" not in json.dumps(template)


def test_allow_list_names_exactly_the_kept_metrics():
    allowed = contract.metrics_allow_list().split(",")
    assert [re.sub(r"\\(.)", r"\1", entry[1:-1]) for entry in allowed] == [m.name for m in contract.METRICS]


# --- Dashboard --------------------------------------------------------------------------------


def dashboard(template: dict) -> list[dict]:
    """The dashboard's widgets, its references replaced by `<LogicalId>` (they sit inside strings)."""
    (resource,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    separator, parts = resource["Properties"]["DashboardBody"]["Fn::Join"]

    def text(part) -> str:
        if isinstance(part, str):
            return part
        if "Ref" in part:
            return f"<{part['Ref']}>"
        if "Fn::GetAtt" in part:
            return f"<{part['Fn::GetAtt'][0]}>"
        return f"<{json.dumps(part, sort_keys=True).replace(chr(34), '')}>"  # e.g. a load balancer's name

    return json.loads(separator.join(text(part) for part in parts))["widgets"]


def graphed(widget: dict) -> list[tuple]:
    """(namespace, metric name, dimensions..., statistic) of each line of a graph."""
    found = []
    for line in widget["properties"]["metrics"]:
        options = line[-1] if isinstance(line[-1], dict) else {}
        values = [item for item in line if not isinstance(item, dict)]
        found.append((*values, options.get("stat", "Average")))
    return found


def widgets(template: dict) -> dict[str, list[tuple]]:
    return {w["properties"]["title"]: graphed(w) for w in dashboard(template) if w["type"] == "metric"}


def airflow_line(deployment: str, name: str, statistic: str) -> tuple:
    metric = contract.METRICS_BY_NAME[name]
    return (
        namespace(deployment),
        f"airflow.{name}",
        "metric_type",
        contract.STATSD_METRIC_TYPES[metric.kind],
        statistic,
    )


def test_the_dev_dashboard_shows_airflow_queue_workers_services_database_and_the_http_api(raw_templates):
    template = raw_templates["dev"]
    shown = widgets(template)
    line = lambda name, statistic: airflow_line("dev", name, statistic)  # noqa: E731
    assert shown["Heartbeats per minute (12 per running instance)"] == [
        line("scheduler_heartbeat", "Sum"),
        line("dag_processor_heartbeat", "Sum"),
        line("triggerer_heartbeat", "Sum"),
    ]
    assert shown["Scheduler loop duration (ms, a busy loop includes its pause, at most 500)"] == [
        line("scheduler.scheduler_loop_duration", "Average"),
        line("scheduler.scheduler_loop_duration", "Maximum"),
    ]
    assert shown["Task instances queued and running (executor)"] == [
        line("executor.queued_tasks", "Maximum"),
        line("executor.running_tasks", "Maximum"),
    ]
    assert shown["Task instances finished per 5 minutes"] == [line("ti_successes", "Sum"), line("ti_failures", "Sum")]
    assert shown["default_pool open slots, DAG import errors"] == [
        line("pool.open_slots.default_pool", "Minimum"),
        line("dag_processing.import_errors", "Maximum"),
    ]
    assert shown["Triggerer: triggers running, capacity left"] == [
        line("triggers.running", "Maximum"),
        line("triggerer.capacity_left", "Minimum"),
    ]
    (queue,) = resources(template, "AWS::SQS::Queue")
    queue_name = f"<{queue}>"
    assert shown["Queue: task messages waiting and in flight"] == [
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue_name, "Maximum"),
        ("AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", queue_name, "Maximum"),
    ]
    assert shown["Queue: age of the oldest message (s)"] == [
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue_name, "Maximum")
    ]
    needed, worker_cpu = shown["Workers: desired (autoscaling) and running"]
    assert needed == ("Airflow/airflow-dev", "WorkersNeeded", "Maximum")
    assert worker_cpu[:2] == ("AWS/ECS", "CPUUtilization")
    for title, metric in (
        ("Service CPU (% of the task's)", "CPUUtilization"),
        ("Service memory (% of the task's)", "MemoryUtilization"),
    ):
        assert [line[1] for line in shown[title]] == [metric, metric]  # control plane and workers
        assert all(line[0] == "AWS/ECS" and "ServiceName" in line for line in shown[title])
    (database,) = resources(template, "AWS::RDS::DBInstance")
    for title, metric, statistic in (
        ("Database CPU (%)", "CPUUtilization", "Average"),
        ("Database connections", "DatabaseConnections", "Maximum"),
        ("Database free storage (bytes)", "FreeStorageSpace", "Minimum"),
    ):
        assert shown[title] == [("AWS/RDS", metric, "DBInstanceIdentifier", f"<{database}>", statistic)]
    (api,) = resources(template, "AWS::ApiGatewayV2::Api")
    assert shown["UI (HTTP API): 5xx per 5 minutes"] == [("AWS/ApiGateway", "5xx", "ApiId", f"<{api}>", "Sum")]
    assert shown["UI (HTTP API): latency (ms)"] == [
        ("AWS/ApiGateway", "Latency", "ApiId", f"<{api}>", "p50"),
        ("AWS/ApiGateway", "Latency", "ApiId", f"<{api}>", "p99"),
    ]


def test_the_prod_dashboard_shows_every_service_and_the_load_balancer(raw_templates):
    template = raw_templates["prod"]
    shown = widgets(template)
    cpu = shown["Service CPU (% of the task's)"]
    assert len(cpu) == len(services(template)) == 5
    titles = set(shown)
    assert {
        "UI (load balancer): 5xx per 5 minutes",
        "UI (load balancer): response time (s)",
        "UI (load balancer): healthy api-servers",
    } <= titles
    assert [line[1] for line in shown["UI (load balancer): 5xx per 5 minutes"]] == [
        "HTTPCode_Target_5XX_Count",
        "HTTPCode_ELB_5XX_Count",
    ]
    assert [line[1] for line in shown["UI (load balancer): response time (s)"]] == ["TargetResponseTime"] * 2
    assert [line[1] for line in shown["UI (load balancer): healthy api-servers"]] == ["HealthyHostCount"]
    # Two schedulers and triggerers heartbeat: the labels say how many to expect.
    assert len(shown["Heartbeats per minute (12 per running instance)"]) == 3


@pytest.mark.parametrize("deployment", [key for key in DEPLOYMENTS])
def test_the_alarm_widget_shows_every_alarm_that_notifies(raw_templates, deployment):
    template = raw_templates[deployment]
    (status,) = [w for w in dashboard(template) if w["type"] == "alarm"]
    assert sorted(status["properties"]["alarms"]) == sorted(f"<{name}>" for name in notifying(template))


@pytest.mark.parametrize("deployment", WITH_METRICS)
def test_every_kept_metric_is_read_by_the_dashboard_or_an_alarm_and_nothing_else_is_kept(raw_templates, deployment):
    template = raw_templates[deployment]
    read = {line[1] for lines in widgets(template).values() for line in lines if line[0] == namespace(deployment)}
    for alarm in notifying(template).values():
        read |= {
            metric["MetricName"] for metric in alarm_metrics(alarm) if metric["Namespace"] == namespace(deployment)
        }
    assert read == {f"airflow.{m.name}" for m in contract.METRICS}


# --- Alarms -----------------------------------------------------------------------------------


def notifying(template: dict) -> dict[str, dict]:
    """The alarms that notify the deployment's topic (not the worker autoscaling ones), by logical id."""
    (topic,) = resources(template, "AWS::SNS::Topic")
    return {
        name: alarm["Properties"]
        for name, alarm in resources(template, "AWS::CloudWatch::Alarm").items()
        if {"Ref": topic} in alarm["Properties"].get("AlarmActions", [])
    }


def alarm_metrics(alarm: dict) -> list[dict]:
    """Every metric an alarm reads, with its statistic and period."""
    if "Metrics" not in alarm:
        return [
            {
                "Namespace": alarm["Namespace"],
                "MetricName": alarm["MetricName"],
                "Dimensions": alarm.get("Dimensions", []),
                "Stat": alarm.get("Statistic") or alarm["ExtendedStatistic"],
                "Period": alarm["Period"],
            }
        ]
    return [
        {**query["MetricStat"]["Metric"], "Stat": query["MetricStat"]["Stat"], "Period": query["MetricStat"]["Period"]}
        for query in alarm["Metrics"]
        if "MetricStat" in query
    ]


def by_name(template: dict, deployment: str) -> dict[str, dict]:
    prefix = DEPLOYMENTS[deployment].name + "-"
    return {alarm["AlarmName"].removeprefix(prefix): alarm for alarm in notifying(template).values()}


def single(alarm: dict) -> tuple:
    """(namespace, metric, statistic, period) of a one-metric alarm."""
    (metric,) = alarm_metrics(alarm)
    return metric["Namespace"], metric["MetricName"], metric["Stat"], metric["Period"]


def rule(alarm: dict) -> tuple:
    """(threshold, comparison, evaluation periods, datapoints, missing data)."""
    return (
        alarm["Threshold"],
        alarm["ComparisonOperator"],
        alarm["EvaluationPeriods"],
        alarm["DatapointsToAlarm"],
        alarm["TreatMissingData"],
    )


GIB = 1024**3


def test_dev_alarms_their_metrics_thresholds_and_actions(raw_templates):
    template = raw_templates["dev"]
    alarms = by_name(template, "dev")
    statsd = namespace("dev")
    # The control plane runs one scheduler: its heartbeat alarm says all a "below desired" one would.
    assert sorted(alarms) == [
        "dag-processor-below-desired",
        "database-cpu",
        "database-free-storage",
        "queue-waiting",
        "scheduler-heartbeat-missing",
        "task-failures",
        "triggerer-below-desired",
        "ui-5xx",
    ]
    heartbeat = alarms["scheduler-heartbeat-missing"]
    assert single(heartbeat) == (statsd, "airflow.scheduler_heartbeat", "Sum", 60)
    assert rule(heartbeat) == (1, "LessThanThreshold", 3, 3, "breaching")
    # One dag-processor heartbeats 60 times in 5 minutes; alarm below what half of one sends.
    for component, metric in (("dag-processor", "dag_processor_heartbeat"), ("triggerer", "triggerer_heartbeat")):
        alarm = alarms[f"{component}-below-desired"]
        assert single(alarm) == (statsd, f"airflow.{metric}", "Sum", 300)
        assert rule(alarm) == (30, "LessThanThreshold", 2, 2, "breaching")
    failures = alarms["task-failures"]
    assert single(failures) == (statsd, "airflow.ti_failures", "Sum", 900)
    assert rule(failures) == (5, "GreaterThanThreshold", 1, 1, "notBreaching")
    waiting = alarms["queue-waiting"]
    assert single(waiting)[:3] == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Minimum")
    assert rule(waiting) == (0, "GreaterThanThreshold", 15, 15, "notBreaching")
    storage = alarms["database-free-storage"]
    assert single(storage)[:3] == ("AWS/RDS", "FreeStorageSpace", "Minimum")
    assert rule(storage) == (1 * GIB, "LessThanThreshold", 1, 1, "missing")
    cpu = alarms["database-cpu"]
    assert single(cpu) == ("AWS/RDS", "CPUUtilization", "Average", 300)
    assert rule(cpu) == (80, "GreaterThanThreshold", 3, 3, "missing")
    errors = alarms["ui-5xx"]
    assert single(errors) == ("AWS/ApiGateway", "5xx", "Sum", 300)
    assert rule(errors) == (10, "GreaterThanThreshold", 1, 1, "notBreaching")


def test_prod_alarms_count_two_schedulers_and_triggerers_and_the_load_balancer(raw_templates):
    template = raw_templates["prod"]
    alarms = by_name(template, "prod")
    assert {"scheduler-below-desired", "api-server-below-desired"} <= set(alarms)
    # Two schedulers send 120 heartbeats in 5 minutes: below 90 one is missing.
    assert rule(alarms["scheduler-below-desired"])[:2] == (90, "LessThanThreshold")
    assert rule(alarms["triggerer-below-desired"])[:2] == (90, "LessThanThreshold")
    assert rule(alarms["dag-processor-below-desired"])[:2] == (30, "LessThanThreshold")
    healthy = alarms["api-server-below-desired"]
    assert single(healthy)[:3] == ("AWS/ApplicationELB", "HealthyHostCount", "Minimum")
    assert rule(healthy) == (2, "LessThanThreshold", 10, 10, "breaching")
    errors = alarms["ui-5xx"]
    assert sorted(metric["MetricName"] for metric in alarm_metrics(errors)) == [
        "HTTPCode_ELB_5XX_Count",
        "HTTPCode_Target_5XX_Count",
    ]
    (expression,) = [query for query in errors["Metrics"] if "Expression" in query]
    assert expression["Expression"].replace(" ", "").count("FILL(") == 2


@pytest.mark.parametrize("deployment", list(DEPLOYMENTS))
def test_every_alarm_notifies_the_topic_and_says_in_one_line_what_to_check_first(raw_templates, deployment):
    template = raw_templates[deployment]
    alarms = notifying(template)
    assert len(alarms) >= 5
    for alarm in alarms.values():
        description = alarm["AlarmDescription"]
        assert "\n" not in description and re.search(r"\bcheck .+ first\b", description), description
        assert alarm["AlarmName"].startswith(DEPLOYMENTS[deployment].name + "-")
        assert len(alarm["AlarmActions"]) == 1
    assert template["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": next(iter(resources(template, "AWS::SNS::Topic")))}
    assert template["Outputs"]["DashboardName"]["Value"] == DEPLOYMENTS[deployment].name


def test_thresholds_come_from_the_settings(raw_templates):
    # dev-allowlist: every component in a service of its own, the profile's alarm thresholds.
    alarms = by_name(raw_templates["dev-allowlist"], "dev-allowlist")
    limits = DEPLOYMENTS["dev-allowlist"].alarms
    assert rule(alarms["task-failures"])[0] == limits.task_failures
    assert rule(alarms["queue-waiting"])[2] == limits.queue_age_minutes
    assert rule(alarms["database-cpu"])[0] == limits.db_cpu_percent
    assert rule(alarms["ui-5xx"])[0] == limits.ui_5xx


def test_metrics_off_keeps_the_alarms_on_aws_metrics(raw_templates):
    alarms = by_name(raw_templates["dev-plain-http"], "dev-plain-http")
    # No Airflow metric to alarm on; the load balancer counts the control plane's api-server.
    assert sorted(alarms) == [
        "api-server-below-desired",
        "database-cpu",
        "database-free-storage",
        "queue-waiting",
        "ui-5xx",
    ]
    assert rule(alarms["api-server-below-desired"])[0] == 1


@pytest.mark.parametrize("deployment", list(DEPLOYMENTS))
def test_the_topic_has_an_email_subscription_only_when_one_is_set(raw_templates, deployment):
    subscriptions = resources(raw_templates[deployment], "AWS::SNS::Subscription").values()
    email = DEPLOYMENTS[deployment].alarms.email
    if email is None:
        assert list(subscriptions) == []
    else:
        (subscription,) = subscriptions
        assert (subscription["Properties"]["Protocol"], subscription["Properties"]["Endpoint"]) == ("email", email)
    assert DEPLOYMENTS["dev-allowlist"].alarms.email == "ops@example.com"


# --- The night stop pauses the control-plane alarms --------------------------------------------


def alarm_schedules(template: dict) -> dict[str, dict]:
    return {
        name: schedule["Properties"]
        for name, schedule in resources(template, "AWS::Scheduler::Schedule").items()
        if str(schedule["Properties"]["Target"]["Arn"]).startswith("arn:aws:scheduler:::aws-sdk:cloudwatch:")
    }


def test_dev_pauses_the_control_plane_alarms_at_night_and_rechecks_them_in_the_morning(raw_templates):
    template = raw_templates["dev"]
    schedules = alarm_schedules(template)
    paused = [
        "airflow-dev-scheduler-heartbeat-missing",
        "airflow-dev-dag-processor-below-desired",
        "airflow-dev-triggerer-below-desired",
        "airflow-dev-ui-5xx",
    ]
    by_action = {}
    for schedule in schedules.values():
        action = schedule["Target"]["Arn"].rsplit(":", 1)[1]
        by_action.setdefault(action, []).append(schedule)
        assert schedule["ScheduleExpressionTimezone"] == "UTC"
    (pause,) = by_action["disableAlarmActions"]
    assert pause["ScheduleExpression"] == "cron(0 20 ? * SUN,MON,TUE,WED,THU,FRI,SAT *)"
    assert json.loads(pause["Target"]["Input"]) == {"AlarmNames": paused}
    (resume,) = by_action["enableAlarmActions"]
    assert resume["ScheduleExpression"] == "cron(10 7 ? * MON,TUE,WED,THU,FRI *)"
    assert json.loads(resume["Target"]["Input"]) == {"AlarmNames": paused}
    rechecks = by_action["setAlarmState"]
    assert sorted(json.loads(s["Target"]["Input"])["AlarmName"] for s in rechecks) == sorted(paused)
    assert {s["ScheduleExpression"] for s in rechecks} == {"cron(15 7 ? * MON,TUE,WED,THU,FRI *)"}
    assert all(json.loads(s["Target"]["Input"])["StateValue"] == "OK" for s in rechecks)
    # The scheduler's role may touch these alarms and nothing else.
    (role,) = {s["Target"]["RoleArn"]["Fn::GetAtt"][0] for s in schedules.values()}
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
    ]
    (statement,) = policy["Statement"]
    ids = {name for name, alarm in notifying(template).items() if alarm["AlarmName"] in paused}
    assert sorted(r["Fn::GetAtt"][0] for r in statement["Resource"]) == sorted(ids)


def test_without_a_night_stop_nothing_pauses_the_alarms(raw_templates):
    assert DEPLOYMENTS["prod"].scheduled_scaling is None
    assert alarm_schedules(raw_templates["prod"]) == {}


def test_minutes_after_moves_the_days_past_midnight():
    assert minutes_after("07:00", 15, ("MON", "FRI")) == (7, 15, ("MON", "FRI"))
    assert minutes_after("07:55", 10, ("MON",)) == (8, 5, ("MON",))
    assert minutes_after("23:55", 10, ("FRI", "SAT")) == (0, 5, ("SAT", "SUN"))
