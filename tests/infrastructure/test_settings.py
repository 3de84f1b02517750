"""The settings object: profiles, validation with one-line errors, overrides, the app's exit."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import pytest

from airflow_ecs.settings import (
    PROFILES,
    Alarms,
    ComponentSize,
    ScheduledScaling,
    SettingsError,
    load,
    setting_fields,
    validate,
)
from tests.infrastructure.templates import INFRASTRUCTURE

CERTIFICATE = {"certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"}


def test_profiles_are_valid_and_differ_only_in_values():
    dev, prod = load("dev"), load("prod", CERTIFICATE)
    assert (dev.egress, prod.egress) == ("public", "private")
    assert not dev.db_multi_az and prod.db_multi_az and prod.db_deletion_protection
    assert dev.sqs_visibility_timeout_seconds == prod.sqs_visibility_timeout_seconds == 21600
    assert dev.cpu_architecture == prod.cpu_architecture == "ARM64"
    assert (dev.public_endpoint, prod.public_endpoint) == ("api-gateway", "load-balancer")
    assert dev.shared_components == ("api-server", "scheduler", "dag-processor", "triggerer")
    assert prod.shared_components == ()
    assert (dev.tags, prod.tags) == (
        {"project": "deploy-airflow-on-ecs-fargate", "profile": "dev"},
        {"project": "deploy-airflow-on-ecs-fargate", "profile": "prod"},
    )


def test_prod_as_shipped_refuses_to_synth_without_https_in_one_sentence():
    with pytest.raises(SettingsError) as error:
        load("prod")
    text = str(error.value)
    assert text == (
        "certificate_arn: None would serve the UI and its logins over plain HTTP: give an ACM certificate "
        "(certificate_arn=arn:aws:acm:REGION:ACCOUNT:certificate/ID) or opt out by name with plain_http=true"
    )
    assert "\n" not in text and text.count(". ") == 0
    # The opt-out is named, and only for clients narrower than the internet.
    assert load("prod", {"plain_http": "true", "allowed_client_cidrs": "10.8.0.0/16"}).plain_http
    with pytest.raises(SettingsError, match=r"^plain_http: true with allowed_client_cidrs=\['0.0.0.0/0'\] would send"):
        load("prod", {"plain_http": "true"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"egress": "nat"}, "egress: 'nat' is not allowed; expected one of: public, private"),
        ({"task_logs": "elasticsearch"}, "task_logs: 'elasticsearch' is not allowed; expected one of: cloudwatch, s3"),
        ({"log_retention_days": 10}, "log_retention_days: 10 is not allowed; expected one of: 1, 3, 5, 7, 14, 30,"),
        (
            {"worker": ComponentSize(cpu=256, memory_mib=4096)},
            "worker.memory_mib: 4096 is not allowed; expected one of: 512, 1024, 2048",
        ),
        (
            {"api_server": ComponentSize(cpu=300)},
            "api_server.cpu: 300 is not allowed; expected one of: 256, 512, 1024,",
        ),
        (
            {"sqs_visibility_timeout_seconds": 50000},
            "sqs_visibility_timeout_seconds: 50000 is not allowed; expected an integer from 60 to 43200",
        ),
        ({"allowed_client_cidrs": ("10.0.0.300/8",)}, "allowed_client_cidrs: '10.0.0.300/8' is not allowed"),
        ({"db_instance_type": "t3.micro"}, "db_instance_type: 't3.micro' is not allowed; expected a Graviton class"),
        ({"worker_spot_weight": 0, "worker_on_demand_weight": 0}, "worker_spot_weight: 0 is not allowed"),
        (
            {"scheduled_scaling": ScheduledScaling(time_zone="Mars/Olympus")},
            "scheduled_scaling.time_zone: 'Mars/Olympus' is not allowed; expected an IANA time zone",
        ),
        (
            {"scheduled_scaling": ScheduledScaling(stop_at="24:00")},
            "scheduled_scaling.stop_at: '24:00' is not allowed; expected a time HH:MM",
        ),
        (
            {"scheduled_scaling": ScheduledScaling(start_days=("MONDAY",))},
            "scheduled_scaling.start_days: 'MONDAY' is not allowed; expected one of: SUN, MON,",
        ),
        ({"certificate_arn": "arn:aws:iam::123456789012:server-certificate/x"}, "certificate_arn: "),
        (
            {"public_endpoint": "cloudfront"},
            "public_endpoint: 'cloudfront' is not allowed; expected one of: api-gateway",
        ),
        ({"cpu_architecture": "ARM"}, "cpu_architecture: 'ARM' is not allowed; expected one of: X86_64, ARM64"),
        (
            {"control_plane_task": ComponentSize(cpu=512, memory_mib=8192)},
            "control_plane_task.memory_mib: 8192 is not allowed; expected one of: 1024, 2048, 3072, 4096",
        ),
        ({"plain_http": True}, "plain_http: true would be ignored with public_endpoint=api-gateway"),
        ({"domain_name": "airflow.example.com"}, "certificate_arn and domain_name: an HTTP API serves a domain"),
        (
            {"control_plane_task": None},
            "control_plane_task: None leaves api-server, scheduler, dag-processor, triggerer",
        ),
        (
            {
                "api_server": ComponentSize(),
                "scheduler": ComponentSize(),
                "dag_processor": ComponentSize(),
                "triggerer": ComponentSize(),
            },
            "control_plane_task would be ignored: every component has a size of its own",
        ),
        ({"cost_allocation_tags": ("project",)}, "cost_allocation_tags: 'project' is not allowed; expected key=value"),
        ({"cost_allocation_tags": ("aws:owner=me",)}, "cost_allocation_tags: 'aws:owner=me' is not allowed"),
        (
            {"cost_allocation_tags": ("a=1", "a=2")},
            "cost_allocation_tags: ('a=1', 'a=2') is not allowed; expected each",
        ),
        (
            {"alarms": Alarms(email="ops at example.com")},
            "alarms.email: 'ops at example.com' is not allowed; expected an e-mail address or None",
        ),
        ({"alarms": Alarms(db_cpu_percent=120)}, "alarms.db_cpu_percent: 120 is not allowed; expected an integer"),
        ({"alarms": Alarms(queue_age_minutes=0)}, "alarms.queue_age_minutes: 0 is not allowed; expected an integer"),
    ],
)
def test_a_bad_setting_fails_with_one_line_naming_it_and_the_allowed_values(change, message):
    with pytest.raises(SettingsError) as error:
        validate(replace(PROFILES["dev"], **change))
    text = str(error.value)
    assert "\n" not in text
    assert text.startswith(message)


def test_overrides_are_typed_from_the_field_and_validated():
    settings = load(
        "prod",
        {
            **CERTIFICATE,
            "egress": "public",
            "nat_gateways": "0",
            "db_multi_az": "false",
            "worker_concurrency": "16",
            "domain_name": "none",
        },
    )
    assert (settings.egress, settings.db_multi_az, settings.worker_concurrency, settings.domain_name) == (
        "public",
        False,
        16,
        None,
    )
    with pytest.raises(SettingsError, match=r"^db_multi_az: 'maybe' is not allowed; expected true or false$"):
        load("prod", {**CERTIFICATE, "db_multi_az": "maybe"})
    with pytest.raises(
        SettingsError,
        match=r"^worker: 'big' is not allowed; expected its fields set one by one, e.g. worker.cpu=\.\.\.$",
    ):
        load("dev", {"worker": "big"})
    with pytest.raises(
        SettingsError, match=r"^override: 'wroker.count' is not allowed; expected a setting such as name, "
    ):
        load("dev", {"wroker.count": "3"})


def test_nested_and_list_settings_can_be_overridden():
    settings = load(
        "dev",
        {
            "worker.count": "3",
            "scheduled_scaling.stop_at": "21:30",
            "scheduled_scaling.start_days": "MON,WED",
            "allowed_client_cidrs": "203.0.113.0/24, 198.51.100.7/32",
        },
    )
    assert settings.worker.count == 3 and settings.worker.cpu == PROFILES["dev"].worker.cpu
    assert (settings.scheduled_scaling.stop_at, settings.scheduled_scaling.start_days) == ("21:30", ("MON", "WED"))
    assert settings.allowed_client_cidrs == ("203.0.113.0/24", "198.51.100.7/32")
    assert load("dev", {"scheduled_scaling": "none"}).scheduled_scaling is None
    alarms = load("dev", {"alarms.email": "ops@example.com", "alarms.task_failures": "20", "metrics": "false"})
    assert (alarms.alarms.email, alarms.alarms.task_failures, alarms.metrics) == ("ops@example.com", 20, False)
    # A schedule can be switched on for a profile without one, field by field.
    assert load("prod", {**CERTIFICATE, "scheduled_scaling.stop_at": "22:00"}).scheduled_scaling == ScheduledScaling(
        stop_at="22:00"
    )
    # A component sized in dev leaves the control-plane task; one sized none joins it in prod.
    assert load("dev", {"triggerer.cpu": "256"}).shared_components == ("api-server", "scheduler", "dag-processor")
    joined = load(
        "prod",
        {
            **CERTIFICATE,
            "dag_processor": "none",
            "control_plane_task.cpu": "256",
            "control_plane_task.memory_mib": "1024",
        },
    )
    assert joined.shared_components == ("dag-processor",) and joined.control_plane_task == ComponentSize(
        cpu=256, memory_mib=1024, count=1
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nat_gateways": "1"}, "nat_gateways: 1 would be ignored with egress=public"),
        ({"egress": "private"}, "nat_gateways: 0 is not allowed; expected an integer from 1 to 2"),
        (
            {"certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"},
            "certificate_arn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc' is not in account 123456789012, "
            "region us-east-1",
        ),
    ],
)
def test_a_combination_that_would_be_ignored_or_fail_at_deploy_fails_at_synth(overrides, message):
    with pytest.raises(SettingsError) as error:
        load("dev", overrides)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_every_setting_has_a_one_line_description():
    for name, item in setting_fields():
        description = item.metadata.get("doc", "")
        assert description and "\n" not in description, f"{name} has no one-line description (setting(doc=...))"
    with pytest.raises(SettingsError, match=r"^profile: 'staging' is not allowed; expected one of: dev, prod$"):
        load("staging")


def test_the_app_prints_one_line_and_exits_2_on_a_bad_setting(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("cdk_app", INFRASTRUCTURE / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    monkeypatch.delenv("CDK_CONTEXT_JSON", raising=False)
    monkeypatch.setenv("AIRFLOW_ECS_SETTINGS", "egress=nat")
    assert app.main() == 2
    assert capsys.readouterr().err == "error: egress: 'nat' is not allowed; expected one of: public, private\n"


def test_every_allowed_log_retention_has_its_cdk_member():
    from aws_cdk import aws_logs as logs

    from airflow_ecs.common import RETENTION_BY_DAYS
    from airflow_ecs.settings import LOG_RETENTION_DAYS

    assert tuple(RETENTION_BY_DAYS) == LOG_RETENTION_DAYS
    assert (
        RETENTION_BY_DAYS[30] == logs.RetentionDays.ONE_MONTH
        and RETENTION_BY_DAYS[3653] == logs.RetentionDays.TEN_YEARS
    )
