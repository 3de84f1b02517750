"""`airflow-ecs status`, `logs`, `admin-password`, and the faults every AWS command shares (no
credentials, no or unknown region, a missing stack or output), against moto's server."""

from __future__ import annotations

import contextlib
import json
import time

import pytest

from tests.cli import standin


def now_ms() -> int:
    return int(time.time() * 1000)


def test_status_shows_services_health_rollout_queue_and_url(cli, deployed, clients):
    clients.sqs.send_message(QueueUrl=deployed.queue_url, MessageBody="task one")
    clients.sqs.send_message(QueueUrl=deployed.queue_url, MessageBody="task two")
    clients.sqs.receive_message(QueueUrl=deployed.queue_url, MaxNumberOfMessages=1)
    clients.cloudwatch.put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": f"{deployed.stack}-default"}],
                "Value": 42,
                "Unit": "Seconds",
            }
        ],
    )
    # One task of the scheduler's service (moto's services start none).
    clients.ecs.run_task(
        cluster=deployed.cluster,
        taskDefinition=f"{deployed.stack}-scheduler",
        group=f"service:{deployed.services['scheduler']}",
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": deployed.subnets, "securityGroups": [deployed.security_group]}
        },
    )
    result = cli("status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"airflow-dev in {standin.REGION}: CREATE_COMPLETE, image {standin.IMAGE_TAG}"
    assert lines[1] == f"UI: {standin.UI_URL}"
    rows = {line.split()[0]: line.split() for line in lines[3:8]}
    assert list(rows) == ["api-server", "scheduler", "dag-processor", "triggerer", "worker"]
    assert all(row[1:4] == ["1", "1", "0"] and "completed" in row for row in rows.values())
    assert rows["scheduler"][4:6] == ["1", "unknown"]  # moto reports no task health status
    assert lines[-2] == "queue: 1 waiting, 1 in flight, oldest message 42 s"
    assert lines[-1] == "alarms: none in ALARM"


def put_alarm(clients, deployed, name: str, *, state: str, notifies: bool = True, description: str = "") -> None:
    clients.cloudwatch.put_metric_alarm(
        AlarmName=f"{deployed.stack}-{name}",
        AlarmDescription=description,
        Namespace="Airflow/test",
        MetricName=name,
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
        AlarmActions=[deployed.alarm_topic]
        if notifies
        else ["arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x"],
    )
    clients.cloudwatch.set_alarm_state(AlarmName=f"{deployed.stack}-{name}", StateValue=state, StateReason="test")


def test_status_shows_the_deployments_alarms_in_alarm_and_exits_1(cli, deployed, clients):
    put_alarm(
        clients,
        deployed,
        "scheduler-heartbeat-missing",
        state="ALARM",
        description="No scheduler heartbeat for 3 minutes: check `airflow-ecs status` first.",
    )
    put_alarm(clients, deployed, "database-cpu", state="OK", description="Database CPU above 80 %")
    # The worker autoscaling alarm that is in ALARM whenever workers idle notifies no topic.
    put_alarm(clients, deployed, "WorkerScalingScaleToIdleAlarm", state="ALARM", notifies=False)
    result = cli("status")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    start = lines.index("alarms: 1 in ALARM")
    (alarm,) = lines[start + 1 :]
    assert alarm.startswith(f"  {deployed.stack}-scheduler-heartbeat-missing since ")
    assert alarm.endswith(" UTC: No scheduler heartbeat for 3 minutes: check `airflow-ecs status` first.")


def test_an_alarm_paused_for_the_night_stop_is_shown_but_does_not_fail_status(cli, deployed, clients):
    put_alarm(clients, deployed, "triggerer-below-desired", state="ALARM", description="Fewer than 1 triggerer")
    clients.cloudwatch.disable_alarm_actions(AlarmNames=[f"{deployed.stack}-triggerer-below-desired"])
    result = cli("status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-2] == "alarms: 1 in ALARM"
    assert lines[-1].startswith(f"  {deployed.stack}-triggerer-below-desired since ")
    assert lines[-1].endswith(" UTC (paused for the night stop): Fewer than 1 triggerer")


def test_status_exits_1_while_a_service_is_not_running_what_it_should(cli, deployed, clients, monkeypatch):
    service = deployed.services["worker"]
    clients.ecs.delete_service(cluster=deployed.cluster, service=service, force=True)
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "0")
    clients.ecs.create_service(
        cluster=deployed.cluster,
        serviceName=service,
        taskDefinition=f"{deployed.stack}-worker",
        desiredCount=2,
        launchType="FARGATE",
    )
    result = cli("status")
    assert result.exit_code == 1
    (worker,) = [line for line in result.stdout.splitlines() if line.split()[:1] == ["worker"]]
    assert worker.split()[1:4] == ["2", "0", "2"]
    assert "in_progress" in worker and "in progress" in worker  # the rollout and ECS's reason


def put_events(clients, group: str, stream: str, messages: list[tuple[int, str]]) -> None:
    with contextlib.suppress(clients.logs.exceptions.ResourceAlreadyExistsException):
        clients.logs.create_log_stream(logGroupName=group, logStreamName=stream)
    clients.logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": ts, "message": message} for ts, message in messages],
    )


def test_logs_since_a_duration_in_time_order_across_tasks(cli, deployed, clients):
    group = deployed.log_groups["worker"]
    now = now_ms()
    put_events(clients, group, "worker/worker/aaaaaaaa1111", [(now - 3 * 3600_000, "old"), (now - 60_000, "first")])
    put_events(clients, group, "worker/worker/bbbbbbbb2222", [(now - 30_000, "second")])
    result = cli("logs", "worker", "--since", "10m")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(maxsplit=3)[2:] for line in lines] == [["aaaaaaaa", "first"], ["bbbbbbbb", "second"]]
    everything = cli("logs", "worker", "--since", "4h")
    assert [line.split()[-1] for line in everything.stdout.splitlines()] == ["old", "first", "second"]


def test_logs_follow_prints_new_lines_once_until_ctrl_c(cli, deployed, clients, monkeypatch):
    from airflow_ecs_cli import logs

    group = deployed.log_groups["scheduler"]
    stream = "scheduler/scheduler/cccccccc3333"
    put_events(clients, group, stream, [(now_ms() - 1000, "before")])
    polls = {"count": 0}

    def pause(seconds):
        polls["count"] += 1
        if polls["count"] == 1:
            put_events(clients, group, stream, [(now_ms(), "arrived")])
        elif polls["count"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(logs, "pause", pause)
    result = cli("logs", "scheduler", "--follow")
    assert result.exit_code == 0, result.output
    assert [line.split()[-1] for line in result.stdout.splitlines()] == ["before", "arrived"]


def test_logs_of_the_standalone_task_definition(cli, deployed, clients):
    put_events(clients, deployed.log_groups["standalone"], "standalone/standalone/dddd", [(now_ms(), "migrated")])
    result = cli("logs", "standalone")
    assert result.exit_code == 0, result.output
    assert result.stdout.split()[-1] == "migrated"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["webserver"], "unknown component 'webserver'"),
        (["worker", "--since", "yesterday"], "error: --since: 'yesterday' is neither a duration (10m, 2h) nor a time"),
    ],
)
def test_logs_bad_input(cli, deployed, arguments, message):
    result = cli("logs", *arguments)
    assert result.exit_code == 2
    assert message in result.stderr


def test_logs_of_a_deleted_log_group_say_so(cli, deployed, clients):
    clients.logs.delete_log_group(logGroupName=deployed.log_groups["triggerer"])
    result = cli("logs", "triggerer")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: log group {deployed.log_groups['triggerer']} does not exist: was the stack deleted or never deployed?\n"
    )


def test_admin_password_prints_only_the_password_on_stdout(cli, deployed):
    result = cli("admin-password")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{standin.ADMIN_PASSWORD}\n"
    assert result.stderr == f"user admin, password from {deployed.secret_arn}:\n"


def test_admin_password_follows_the_task_definition_to_a_json_key(cli, deployed, clients):
    # A secret referenced with a JSON key (ARN:key::) is read from that key.
    arn = clients.secretsmanager.create_secret(Name="other", SecretString=json.dumps({"password": "from-json"}))["ARN"]
    standin.register_standalone(
        clients, deployed.stack, "image:tag", deployed.log_groups["standalone"], f"{arn}:password::"
    )
    result = cli("admin-password")
    assert result.exit_code == 0, result.output
    assert result.stdout == "from-json\n"


def test_no_credentials_is_one_line(cli, deployed, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = cli("status")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no AWS credentials found: run `aws configure` (or `aws sso login`), set AWS_PROFILE, or pass --aws-profile\n"
    )


def test_aws_region_alone_names_the_region_as_for_the_aws_cli_and_the_cdk(cli, deployed, monkeypatch):
    # botocore itself reads only AWS_DEFAULT_REGION.
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = cli("status")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"airflow-dev in {standin.REGION}:")


def test_no_region_and_an_unknown_region(cli, deployed, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    missing = cli("status")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: no AWS region: set AWS_REGION")
    unknown = cli("status", "--region", "eu-nowhere-9")
    assert unknown.exit_code == 2
    assert unknown.stderr == "error: unknown AWS region 'eu-nowhere-9': expected one such as us-east-1 or eu-west-1\n"


def test_an_unknown_aws_profile(cli, deployed):
    result = cli("status", "--aws-profile", "nobody")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: AWS profile 'nobody' is not in your AWS configuration")


def test_a_missing_output_names_it_and_the_fix(cli, clients):
    clients.cloudformation.create_stack(
        StackName="airflow-old",
        TemplateBody=json.dumps(
            {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}, "Outputs": {"ClusterName": {"Value": "airflow-old"}}}
        ),
    )
    result = cli("admin-password", "--stack", "airflow-old")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: stack airflow-old has no output StandaloneTaskFamily: it was deployed by an older version of this "
        "project; run `airflow-ecs deploy`\n"
    )


def test_settings_choose_the_stack_and_bad_settings_are_one_line(cli, deployed):
    renamed = cli("status", "--settings", "name=airflow-other")
    assert renamed.exit_code == 1
    assert renamed.stderr.startswith("error: stack airflow-other not found")
    bad = cli("status", "--settings", "egress=nat")
    assert bad.exit_code == 2
    assert bad.stderr == "error: settings: egress: 'nat' is not allowed; expected one of: public, private\n"
    unknown_profile = cli("status", "--profile", "staging")
    assert unknown_profile.exit_code == 2
    assert unknown_profile.stderr == "error: settings: profile: 'staging' is not allowed; expected one of: dev, prod\n"


def test_debug_shows_the_traceback(cli, deployed):
    quiet = cli("status", "--stack", "nope")
    assert "Traceback" not in quiet.stderr
    loud = cli("--debug", "status", "--stack", "nope")
    assert loud.exit_code == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.stderr.rstrip().splitlines()[-1].startswith("error: stack nope not found")
