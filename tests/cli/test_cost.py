"""`airflow-ecs cost`: small templates written here, priced with a table of round prices, against
totals computed by hand (the arithmetic is in the comments); then the command line itself."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from airflow_ecs_cli import cost
from airflow_ecs_cli.cli import app
from airflow_ecs_cli.prices import PriceTable
from deploy_airflow_on_ecs_fargate import contract

HOURS = 100
ROUND_PRICES = {
    "fargate_arm64_vcpu_hour": 0.04,
    "fargate_arm64_gb_hour": 0.005,
    "fargate_x86_64_vcpu_hour": 0.05,
    "fargate_x86_64_gb_hour": 0.006,
    "fargate_spot_discount": 0.5,
    "public_ipv4_hour": 0.01,
    "alb_hour": 0.02,
    "alb_lcu_hour": 0.01,
    "nat_gateway_hour": 0.05,
    "nat_gateway_gb": 0.05,
    "interface_endpoint_az_hour": 0.01,
    "rds_postgres_db.t4g.micro_hour": 0.02,
    "rds_multi_az_factor": 2.0,
    "rds_gp3_gb_month": 0.1,
    "secrets_manager_secret_month": 0.5,
    "cloudwatch_alarm_month": 0.1,
    "cloudwatch_high_resolution_alarm_month": 0.3,
    "cloudwatch_custom_metric_month": 0.3,
    "cloudwatch_put_metric_data_1000": 0.01,
    "cloudwatch_dashboard_month": 3.0,
    "cloudwatch_logs_gb_ingested": 0.5,
    "api_gateway_http_million_requests": 1.0,
    "route53_hosted_zone_month": 0.5,
    "cloud_map_instance_month": 0.1,
    "kms_key_month": 1.0,
    "mwaa_mw1.small_hour": 0.5,
}
PRICES = PriceTable(
    region="test",
    gathered="2026-01-01",
    hours_per_month=HOURS,
    prices=ROUND_PRICES,
    sources=dict.fromkeys(ROUND_PRICES, "test"),
)
# Monday to Friday 07:00-20:00: 65 of the week's 168 hours.
WEEKDAYS = 65 / 168


def task_definition(cpu: str, memory: str, architecture: str, *containers: dict) -> dict:
    return {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "Family": f"stack-{containers[0]['Name']}",
            "Cpu": cpu,
            "Memory": memory,
            "RuntimePlatform": {"CpuArchitecture": architecture, "OperatingSystemFamily": "LINUX"},
            "ContainerDefinitions": list(containers),
        },
    }


def service(name: str, task: str, count: int, *, public_ip: bool = False, **extra) -> dict:
    return {
        "Type": "AWS::ECS::Service",
        "Properties": {
            "ServiceName": f"stack-{name}",
            "TaskDefinition": {"Ref": task},
            "DesiredCount": count,
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {"AssignPublicIp": "ENABLED" if public_ip else "DISABLED", "Subnets": ["a", "b"]}
            },
            **extra,
        },
    }


def scalable_target(service_id: str, low: int, high: int, *actions: dict) -> dict:
    properties = {
        "ServiceNamespace": "ecs",
        "ScalableDimension": "ecs:service:DesiredCount",
        "MinCapacity": low,
        "MaxCapacity": high,
        "ResourceId": {"Fn::Join": ["", ["service/", {"Ref": "Cluster"}, "/", {"Fn::GetAtt": [service_id, "Name"]}]]},
    }
    if actions:
        properties["ScheduledActions"] = list(actions)
    return {"Type": "AWS::ApplicationAutoScaling::ScalableTarget", "Properties": properties}


def action(schedule: str, count: int) -> dict:
    return {
        "ScheduledActionName": schedule,
        "Schedule": schedule,
        "Timezone": "Europe/Berlin",
        "ScalableTargetAction": {"MinCapacity": count, "MaxCapacity": count},
    }


def alarm(namespace: str, period: int) -> dict:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {"Namespace": namespace, "MetricName": "M", "Period": period},
    }


DEV_LIKE = {
    "Resources": {
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "stack"}},
        "ControlPlaneTask": task_definition(
            "512",
            "2048",
            "ARM64",
            {"Name": "scheduler", "Command": ["scheduler"]},
            {
                "Name": "worker-demand",
                "Command": ["worker-demand"],
                "Environment": [{"Name": "AIRFLOW_WORKER_DEMAND_PERIOD_SECONDS", "Value": "20"}],
            },
        ),
        "ControlPlane": service("control-plane", "ControlPlaneTask", 1, public_ip=True, ServiceRegistries=[{}]),
        "ControlPlaneTarget": scalable_target(
            "ControlPlane", 1, 1, action("cron(0 20 * * ? *)", 0), action("cron(0 7 ? * MON-FRI *)", 1)
        ),
        "WorkerTask": task_definition("1024", "2048", "ARM64", {"Name": "worker", "Command": ["worker"]}),
        "Worker": service("worker", "WorkerTask", 0, public_ip=True),
        "WorkerTarget": scalable_target("Worker", 0, 4),
        "Db": {
            "Type": "AWS::RDS::DBInstance",
            "Properties": {
                "Engine": "postgres",
                "DBInstanceClass": "db.t4g.micro",
                "MultiAZ": False,
                "AllocatedStorage": "20",
                "StorageType": "gp3",
            },
        },
        "SecretA": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
        "SecretB": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
        "Demand": alarm("Airflow/stack", 10),
        "Queue": alarm("AWS/SQS", 60),
        "Namespace": {"Type": "AWS::ServiceDiscovery::PrivateDnsNamespace", "Properties": {}},
        "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"ProtocolType": "HTTP"}},
    }
}
# Around the clock, 100 hours:
#   control plane 1 x (0.5 x 0.04 + 2 x 0.005) = 0.03/h -> 3.00; its public IP 0.01/h -> 1.00
#   workers: 0 idle -> 0; database 0.02/h -> 2.00, 20 GB x 0.1 -> 2.00; 2 secrets x 0.5 -> 1.00
#   alarms 0.3 (10 s) + 0.1 (60 s) -> 0.40; one custom metric (Airflow/stack) -> 0.30
#   PutMetricData: one call every 20 s, 180/h x 100 h = 18,000 calls x 0.01/1000 -> 0.18
#   Route 53 zone 0.50; Cloud Map, one registered task -> 0.10
DEV_TOTAL = 3.00 + 1.00 + 2.00 + 2.00 + 1.00 + 0.40 + 0.30 + 0.18 + 0.50 + 0.10
# With the night stop, what follows the control plane's task count runs 65/168 of the time.
DEV_NIGHT = (3.00 + 1.00 + 0.18 + 0.10) * WEEKDAYS + 2.00 + 2.00 + 1.00 + 0.40 + 0.30 + 0.50

PROD_LIKE = {
    "Resources": {
        "Cluster": {
            "Type": "AWS::ECS::Cluster",
            "Properties": {
                "ClusterName": "stack",
                "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}],
            },
        },
        "ApiTask": task_definition("256", "1024", "X86_64", {"Name": "api-server", "Command": ["api-server"]}),
        "Api": service("api-server", "ApiTask", 2),
        "WorkerTask": task_definition("1024", "2048", "ARM64", {"Name": "worker", "Command": ["worker"]}),
        "Worker": service(
            "worker",
            "WorkerTask",
            2,
            CapacityProviderStrategy=[
                {"CapacityProvider": "FARGATE_SPOT", "Weight": 3},
                {"CapacityProvider": "FARGATE", "Weight": 1, "Base": 1},
            ],
        ),
        "WorkerTarget": scalable_target("Worker", 2, 10),
        "NatA": {"Type": "AWS::EC2::NatGateway", "Properties": {}},
        "NatB": {"Type": "AWS::EC2::NatGateway", "Properties": {}},
        "EipA": {"Type": "AWS::EC2::EIP", "Properties": {}},
        "EipB": {"Type": "AWS::EC2::EIP", "Properties": {}},
        "Balancer": {
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": {
                "Scheme": "internet-facing",
                "Type": "application",
                "Subnets": ["a", "b"],
                "MinimumLoadBalancerCapacity": {"CapacityUnits": 3},
            },
        },
        "Db": {
            "Type": "AWS::RDS::DBInstance",
            "Properties": {
                "Engine": "postgres",
                "DBInstanceClass": "db.t4g.micro",
                "MultiAZ": True,
                "AllocatedStorage": "50",
                "StorageType": "gp3",
            },
        },
        "Logs": {
            "Type": "AWS::EC2::VPCEndpoint",
            "Properties": {"VpcEndpointType": "Interface", "SubnetIds": ["a", "b"]},
        },
        "S3": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcEndpointType": "Gateway"}},
        "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
        "Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}},
    }
}
# 100 hours, no schedule:
#   api-server 2 x (0.25 x 0.05 + 1 x 0.006) = 0.037/h -> 3.70
#   workers idle at 2 (their minimum): the base puts the first on demand, the second splits 3:1,
#   so 1.25 on demand and 0.75 on Spot at half price: (1.25 + 0.75 x 0.5) x (0.04 + 2 x 0.005) -> 8.125
#   NAT 2 x 0.05 -> 10.00, their addresses 2 x 0.01 -> 2.00; balancer 0.02 -> 2.00, 3 reserved LCU
#   x 0.01 -> 3.00, its addresses 2 x 0.01 -> 2.00; database Multi-AZ 0.02 x 2 -> 4.00, 50 GB x 0.1
#   x 2 -> 10.00; interface endpoint 2 zones x 0.01 -> 2.00; KMS key 1.00; dashboard 3.00
#   Container Insights: 11 cluster + 2 running services x (13 + 8) = 53 metrics x 0.3 -> 15.90
PROD_TOTAL = 3.70 + 8.125 + 10.00 + 2.00 + 2.00 + 3.00 + 2.00 + 4.00 + 10.00 + 2.00 + 1.00 + 3.00 + 15.90


def test_a_dev_like_template_around_the_clock_and_with_the_night_stop():
    result = cost.estimate("dev-like", [DEV_LIKE], PRICES)
    assert result.total == pytest.approx(DEV_TOTAL)
    assert result.total_scheduled == pytest.approx(DEV_NIGHT)
    assert result.schedule == "control-plane: 65 of 168 hours a week (39%), by the scheduled actions"
    items = {line.item for line in result.lines}
    assert {"Fargate ARM64", "Public IPv4", "RDS PostgreSQL", "CloudWatch PutMetricData", "Cloud Map"} <= items
    # MWAA beside it: 0.5/h x 100 h.
    assert [(line.item, line.always) for line in result.mwaa] == [("MWAA mw1.small", pytest.approx(50.0))]


def test_a_prod_like_template_with_spot_nat_a_balancer_and_insights():
    result = cost.estimate("prod-like", [PROD_LIKE], PRICES)
    assert result.total == pytest.approx(PROD_TOTAL)
    assert result.schedule is None and result.total_scheduled == pytest.approx(PROD_TOTAL)
    (workers,) = [line for line in result.lines if line.what.startswith("worker:")]
    assert workers.always == pytest.approx(8.125)
    assert "Spot 3 : on demand 1, the first 1 on demand" in workers.what


def test_the_hours_a_month_scale_hourly_prices_only():
    # Half the hours: the hourly lines halve, the monthly ones (database storage, secrets,
    # alarms, metric, zone, registered instance) do not. PutMetricData follows the hours too.
    half = cost.estimate("dev-like", [DEV_LIKE], PRICES, hours_per_month=50)
    hourly = 3.00 + 1.00 + 2.00 + 0.18
    assert half.total == pytest.approx(DEV_TOTAL - hourly / 2)


@pytest.mark.parametrize(
    ("tasks", "strategy", "split"),
    [
        (3, [], {"FARGATE": 3}),
        (4, [("FARGATE_SPOT", 3, 0), ("FARGATE", 1, 0)], {"FARGATE_SPOT": 3, "FARGATE": 1}),
        (5, [("FARGATE_SPOT", 1, 0), ("FARGATE", 1, 1)], {"FARGATE_SPOT": 2, "FARGATE": 3}),
        (1, [("FARGATE_SPOT", 3, 0), ("FARGATE", 1, 2)], {"FARGATE_SPOT": 0, "FARGATE": 1}),
    ],
)
def test_tasks_split_over_capacity_providers_base_first_then_by_weight(tasks, strategy, split):
    assert cost.split_by_provider(tasks, strategy) == pytest.approx(split)


def test_weekly_cron_schedules_and_what_cannot_be_priced():
    assert cost.weekly_minutes("cron(0 7 ? * MON-FRI *)") == [1 * 1440 + 420 + day * 1440 for day in range(5)]
    assert len(cost.weekly_minutes("cron(30 20 * * ? *)")) == 7
    assert cost.weekly_minutes("cron(0 9 ? * SUN,SAT *)") == [540, 6 * 1440 + 540]
    for bad in ("rate(5 minutes)", "cron(0 7 1 * ? *)", "cron(0 7 ? * WEEKDAY *)"):
        with pytest.raises(cost.CostError):
            cost.weekly_minutes(bad)


def test_what_the_table_cannot_price_is_one_line():
    mysql = {"Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "Properties": {"Engine": "mysql"}}}}
    with pytest.raises(cost.CostError, match=r"^database Db: engine 'mysql' has no prices in the table"):
        cost.estimate("x", [mysql], PRICES)
    large = {"Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "Properties": {"DBInstanceClass": "db.r8g.large"}}}}
    with pytest.raises(cost.CostError, match=r"^no price for 'rds_postgres_db.r8g.large_hour' in the test price table"):
        cost.estimate("x", [large], PRICES)


def test_the_table_prints_a_total_and_mwaa_beside_it():
    text = cost.table(cost.estimate("dev-like", [DEV_LIKE], PRICES))
    rows = text.splitlines()
    assert rows[0] == "| item | what | $/month around the clock | $/month with the night stop |"
    assert f"| **total** | idle | **{DEV_TOTAL:.2f}** | **{DEV_NIGHT:.2f}** |" in rows
    assert rows[-1].startswith("| MWAA mw1.small | ") and rows[-1].endswith("| 50.00 | 50.00 |")


def invoke(*args: str):
    return CliRunner().invoke(app, ["cost", *args])


def test_the_command_prices_a_template_file_with_the_repository_table(tmp_path):
    # The shipped us-east-1 table, 100 hours: a NAT gateway 0.045/h -> 4.50, its address
    # 0.005/h -> 0.50, a secret 0.40 a month -> 5.40 (recompute when the table's prices change).
    path = tmp_path / "small.template.json"
    path.write_text(
        json.dumps(
            {
                "Resources": {
                    "Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {}},
                    "Eip": {"Type": "AWS::EC2::EIP", "Properties": {}},
                    "Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
                }
            }
        )
    )
    result = invoke("--template", str(path), "--hours-per-month", "100")
    assert result.exit_code == 0, result.output
    assert "| **total** | idle | **5.40** |" in result.stdout
    assert result.stdout.startswith("small: idle cost at us-east-1 list prices of ")


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    for args, message in [
        (["--template", str(broken)], f"error: template {broken} is not JSON: "),
        (["--template", str(empty)], f"error: template {empty} has no Resources: "),
        (["--template", str(tmp_path / "missing.json")], "error: cannot read template "),
        (["--hours-per-month", "800"], "error: --hours-per-month: 800 is not an hour count of a month"),
        (["--profile", "staging"], "error: settings: profile: 'staging' is not allowed; expected one of: dev, prod"),
        (["--settings", "cpu_architecture=ARM"], "error: settings: cpu_architecture: 'ARM' is not allowed"),
        (["--profile", "prod"], "error: settings: certificate_arn: None would serve the UI and its logins over"),
    ]:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith(message), (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_the_dev_profile_is_synthesized_and_priced_under_its_target():
    # The whole path: settings, an offline synth of both stacks, the repository's price table.
    result = invoke()
    assert result.exit_code == 0, result.output
    (total,) = [row for row in result.stdout.splitlines() if row.startswith("| **total** |")]
    around_the_clock, night = (float(cell.strip(" *").replace(",", "")) for cell in total.split("|")[3:5])
    assert around_the_clock <= 50 and night < around_the_clock
    assert "| MWAA mw1.small |" in result.stdout


# --- Observability (decisions 0070, 0071) --------------------------------------------------------

STATSD = "Airflow/stack/StatsD"
WITH_ALLOWANCE = PriceTable(
    region="test",
    gathered="2026-01-01",
    hours_per_month=HOURS,
    prices={
        **ROUND_PRICES,
        "cloudwatch_free_custom_metrics": 10,
        "cloudwatch_free_alarm_metrics": 10,
        "cloudwatch_free_api_requests": 1_000_000,
        "cloudwatch_free_dashboards": 3,
    },
    sources=dict.fromkeys(ROUND_PRICES, "test"),
)


def metric_stat(namespace: str, name: str, period: int, dimensions: list | None = None) -> dict:
    return {
        "Id": name.lower().replace(".", "_"),
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions or []},
            "Period": period,
            "Stat": "Sum",
        },
    }


OBSERVED = {
    "Resources": {
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "stack"}},
        "SchedulerTask": task_definition(
            "512",
            "1024",
            "ARM64",
            {
                "Name": "scheduler",
                "Command": ["scheduler"],
                "Environment": [
                    {"Name": "AIRFLOW__METRICS__METRICS_ALLOW_LIST", "Value": contract.metrics_allow_list()}
                ],
            },
            {
                "Name": "cloudwatch-agent",
                "Environment": [
                    {
                        "Name": "CW_CONFIG_CONTENT",
                        "Value": json.dumps({"metrics": {"namespace": STATSD, "force_flush_interval": 60}}),
                    }
                ],
            },
        ),
        "Scheduler": service("scheduler", "SchedulerTask", 2),
        # On a kept metric: the same custom metric as the allow list's, counted once.
        "Heartbeat": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "Metrics": [
                    metric_stat(
                        STATSD, "airflow.scheduler_heartbeat", 60, [{"Name": "metric_type", "Value": "counter"}]
                    )
                ]
            },
        },
        # A math alarm bills each metric it reads.
        "Errors": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "Metrics": [
                    {"Id": "sum", "Expression": "FILL(a, 0) + FILL(b, 0)"},
                    metric_stat("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", 300),
                    metric_stat("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", 300),
                ]
            },
        },
        "Board": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardBody": {
                    "Fn::Join": [
                        "",
                        [
                            '{"widgets":[{"type":"metric","properties":{"metrics":[["A","a"],["B","b"]],"region":"',
                            {"Ref": "AWS::Region"},
                            '"}}]}',
                        ],
                    ]
                }
            },
        },
    }
}
# 100 hours: two scheduler tasks 2 x (0.5 x 0.04 + 1 x 0.005) -> 5.00; alarms 1 + 2 metrics x 0.1 ->
# 0.30; 12 kept Airflow metrics x 0.3 -> 3.60; two agents, a call a minute: 2 x 60 x 100 = 12,000
# calls x 0.01/1000 -> 0.12; the dashboard 3.00.
OBSERVED_TOTAL = 5.00 + 0.30 + 3.60 + 0.12 + 3.00
# CloudWatch's allowance: 10 of the 12 metrics (3.00), the 3 alarm metrics (0.30), the calls (0.12)
# and the dashboard (3.00).
OBSERVED_ALLOWANCE = 3.00 + 0.30 + 0.12 + 3.00


def test_the_metrics_agents_their_calls_the_kept_metrics_and_math_alarms_are_priced():
    result = cost.estimate("observed", [OBSERVED], PRICES)
    assert result.total == pytest.approx(OBSERVED_TOTAL)
    lines = {(line.item, line.what): line.always for line in result.lines}
    assert lines[("CloudWatch custom metrics", "12 Airflow metrics (the allow list)")] == pytest.approx(3.60)
    assert lines[("CloudWatch alarms", "3 standard (the metrics of 2 alarms)")] == pytest.approx(0.30)
    (calls,) = [what for item, what in lines if item == "CloudWatch PutMetricData"]
    assert calls.startswith("2 metrics agents x one call every 60 s (12,000 calls")
    assert ("CloudWatch dashboards", "1 (2 metrics)") in lines
    # No allowance in this table: no credit.
    assert "CloudWatch free tier" not in {line.item for line in result.lines}


def test_cloudwatchs_always_free_allowance_is_a_credit_line():
    result = cost.estimate("observed", [OBSERVED], WITH_ALLOWANCE)
    (credit,) = [line for line in result.lines if line.item == "CloudWatch free tier"]
    assert credit.always == pytest.approx(-OBSERVED_ALLOWANCE)
    assert "not if the account already uses them" in credit.what
    assert result.total == pytest.approx(OBSERVED_TOTAL - OBSERVED_ALLOWANCE)


def test_a_dashboard_of_more_than_fifty_metrics_is_not_free():
    body = json.dumps({"widgets": [{"type": "metric", "properties": {"metrics": [["N", str(i)] for i in range(51)]}}]})
    assert cost.dashboard_metrics(body) == 51
    assert cost.dashboard_metrics({"Fn::Sub": "x"}) is None
    big = json.loads(json.dumps(OBSERVED))
    big["Resources"]["Board"]["Properties"]["DashboardBody"] = body
    result = cost.estimate("observed", [big], WITH_ALLOWANCE)
    (credit,) = [line for line in result.lines if line.item == "CloudWatch free tier"]
    assert credit.always == pytest.approx(-(OBSERVED_ALLOWANCE - 3.00))


def test_an_allow_list_entry_the_contract_does_not_keep_is_one_line():
    odd = json.loads(json.dumps(OBSERVED))
    odd["Resources"]["SchedulerTask"]["Properties"]["ContainerDefinitions"][0]["Environment"][0]["Value"] = "^dagrun"
    with pytest.raises(cost.CostError, match=r"metric pattern '\^dagrun' is not one the runtime contract keeps"):
        cost.estimate("odd", [odd], PRICES)
