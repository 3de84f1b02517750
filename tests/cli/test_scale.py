"""`airflow-ecs scale` against moto's ECS and Application Auto Scaling: now, at a time in the
user's time zone, after a duration; the list (the stack's night schedule included) and cancel."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.cli import standin

DIMENSION = {"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount"}


def desired(clients, deployed, component) -> int:
    service = deployed.services[component]
    return clients.ecs.describe_services(cluster=deployed.cluster, services=[service])["services"][0]["desiredCount"]


def resource_id(deployed, component) -> str:
    return f"service/{deployed.cluster}/{deployed.services[component]}"


def target(clients, deployed, component) -> dict | None:
    found = clients.application_autoscaling.describe_scalable_targets(
        **DIMENSION, ResourceIds=[resource_id(deployed, component)]
    )["ScalableTargets"]
    return found[0] if found else None


def actions(clients, deployed, component) -> dict[str, dict]:
    answer = clients.application_autoscaling.describe_scheduled_actions(
        **DIMENSION, ResourceId=resource_id(deployed, component)
    )
    return {action["ScheduledActionName"]: action for action in answer["ScheduledActions"]}


def test_scale_now_sets_the_desired_count(cli, deployed, clients):
    result = cli("scale", "worker", "3")
    assert result.exit_code == 0, result.output
    assert desired(clients, deployed, "worker") == 3
    assert result.stdout == "worker: 1 -> 3 task(s)\n"
    # The worker has no scalable target (it scales with its queue): none is made for a change now.
    assert target(clients, deployed, "worker") is None


def test_scale_now_pins_a_scalable_target_so_auto_scaling_does_not_undo_it(cli, deployed, clients):
    result = cli("scale", "api-server", "2")
    assert result.exit_code == 0, result.output
    assert desired(clients, deployed, "api-server") == 2
    pinned = target(clients, deployed, "api-server")
    assert (pinned["MinCapacity"], pinned["MaxCapacity"]) == (2, 2)
    assert "its scheduled actions change it again: StartInTheMorning, StopAtNight" in result.stdout


def test_scale_at_a_time_in_the_given_time_zone(cli, deployed, clients):
    tomorrow = (datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(days=1)).strftime("%Y-%m-%d")
    result = cli("scale", "api-server", "0", "--at", f"{tomorrow} 19:30", "--tz", "Europe/Berlin")
    assert result.exit_code == 0, result.output
    compact = tomorrow.replace("-", "")
    action = actions(clients, deployed, "api-server")[f"airflow-ecs-0-at-{compact}T1930"]
    assert action["Schedule"] == f"at({tomorrow}T19:30:00)"
    assert action["Timezone"] == "Europe/Berlin"
    assert action["ScalableTargetAction"] == {"MinCapacity": 0, "MaxCapacity": 0}
    assert desired(clients, deployed, "api-server") == 1  # nothing changes now
    assert f"api-server: 0 task(s) at {tomorrow} 19:30 Europe/Berlin" in result.stdout


def test_scale_at_a_clock_time_takes_the_next_one_in_this_machines_zone(cli, deployed, clients, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    now = datetime.now(ZoneInfo("America/New_York"))
    soon = now + timedelta(minutes=2)
    result = cli("scale", "scheduler", "2", "--at", f"{soon:%H:%M}")
    assert result.exit_code == 0, result.output
    ((_, action),) = [
        (n, a) for n, a in actions(clients, deployed, "scheduler").items() if n.startswith("airflow-ecs-")
    ]
    assert action["Timezone"] == "America/New_York"
    scheduled = datetime.strptime(action["Schedule"], "at(%Y-%m-%dT%H:%M:%S)").replace(
        tzinfo=ZoneInfo("America/New_York")
    )
    assert timedelta(0) < scheduled - now <= timedelta(minutes=2)


def test_scale_in_a_duration_on_a_component_without_a_target_registers_one_with_its_count(cli, deployed, clients):
    before = datetime.now(UTC)
    result = cli("scale", "worker", "4", "--in", "1h30m", "--tz", "UTC")
    assert result.exit_code == 0, result.output
    registered = target(clients, deployed, "worker")
    # Registered with the current count: nothing changes until the action runs.
    assert (registered["MinCapacity"], registered["MaxCapacity"]) == (1, 1)
    assert desired(clients, deployed, "worker") == 1
    (action,) = actions(clients, deployed, "worker").values()
    at = datetime.strptime(action["Schedule"], "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC)
    assert timedelta(minutes=89) < at - before < timedelta(minutes=91)
    assert action["ScalableTargetAction"] == {"MinCapacity": 4, "MaxCapacity": 4}


def test_list_shows_the_night_schedule_and_ours(cli, deployed, clients):
    assert cli("scale", "worker", "2", "--in", "2h", "--tz", "UTC").exit_code == 0
    result = cli("scale", "--list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    night = [line for line in lines if "StopAtNight" in line]
    assert [line.split()[0] for line in night] == [
        "api-server/StopAtNight",
        "scheduler/StopAtNight",
        "dag-processor/StopAtNight",
        "triggerer/StopAtNight",
    ]
    assert all("cron(0 20 * * ? *) UTC  -> 0 task(s)  (stack)" in line for line in night)
    assert len([line for line in lines if "StartInTheMorning" in line]) == 4
    (ours,) = [line for line in lines if line.startswith("worker/")]
    assert re.fullmatch(r"worker/airflow-ecs-2-at-\d{8}T\d{4} +at\(\S+\) UTC  -> 2 task\(s\)  \(airflow-ecs\)", ours)


def test_cancel_removes_one_action_and_says_when_the_stack_will_put_it_back(cli, deployed, clients):
    result = cli("scale", "--cancel", "scheduler/StopAtNight")
    assert result.exit_code == 0, result.output
    assert "StopAtNight" not in actions(clients, deployed, "scheduler")
    assert "StopAtNight" in actions(clients, deployed, "api-server")
    assert "the next `airflow-ecs deploy` puts it back" in result.stdout


def test_cancel_of_an_ambiguous_or_unknown_name_changes_nothing(cli, deployed, clients):
    ambiguous = cli("scale", "--cancel", "StopAtNight")
    assert ambiguous.exit_code == 2
    assert "names an action on several components (api-server/StopAtNight, scheduler/StopAtNight" in ambiguous.stderr
    unknown = cli("scale", "--cancel", "worker/nope")
    assert unknown.exit_code == 2
    assert unknown.stderr == "error: no scheduled action 'worker/nope': `airflow-ecs scale --list` shows their names\n"
    assert all(
        len(actions(clients, deployed, c)) == 2 for c in ("api-server", "scheduler", "dag-processor", "triggerer")
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["worker", "-1"], "count: -1 is negative: give 0 (stop the component) or more"),
        (["worker", "3", "--at", "25:00"], "--at: '25:00' is not a time: expected HH:MM or YYYY-MM-DD HH:MM"),
        (["worker", "3", "--at", "2020-01-01 10:00", "--tz", "UTC"], "--at: 2020-01-01 10:00 is in the past"),
        (["worker", "3", "--in", "soon"], "--in: 'soon' is not a duration: expected e.g. 90s, 10m, 2h or 1h30m"),
        (["worker", "3", "--in", "0m"], "--in: '0m' is not a duration above zero"),
        (["worker", "3", "--at", "10:00", "--in", "1h"], "--at and --in both say when: give one"),
        (["worker", "3", "--at", "10:00", "--tz", "Mars/Olympus"], "--tz: 'Mars/Olympus' is not an IANA time zone"),
        (["worker"], "which component, and how many tasks?"),
        (["--list", "worker", "3"], "--list and --cancel stand alone"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(cli, deployed, clients, arguments, message):
    result = cli("scale", *arguments)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1
    assert desired(clients, deployed, "worker") == 1
    assert target(clients, deployed, "worker") is None and actions(clients, deployed, "worker") == {}


def test_an_unknown_component_is_refused_by_the_parser(cli, deployed):
    result = cli("scale", "webserver", "2")
    assert result.exit_code == 2
    assert "unknown component 'webserver': expected one of api-server, scheduler, dag-processor, triggerer, worker" in (
        result.stderr
    )
    assert "Traceback" not in result.output


def test_a_missing_stack_is_named_with_the_fix(cli, clients):
    result = cli("scale", "worker", "2", "--stack", "airflow-nope")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: stack airflow-nope not found in {standin.REGION}: deploy it with `airflow-ecs deploy`, or name "
        "another with --profile, --settings name=... or --stack (and --region)\n"
    )


def test_a_component_scaled_by_policies_is_not_pinned(cli, deployed, clients):
    # Workers that scale on demand (step scaling on a target with a range) keep their policies.
    worker = {**DIMENSION, "ResourceId": resource_id(deployed, "worker")}
    clients.application_autoscaling.register_scalable_target(**worker, MinCapacity=0, MaxCapacity=10)
    clients.application_autoscaling.put_scaling_policy(
        **worker,
        PolicyName="WorkersNeeded",
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ExactCapacity",
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
        },
    )
    for arguments in (["worker", "3"], ["worker", "3", "--in", "1h"]):
        result = cli("scale", *arguments)
        assert result.exit_code == 2
        assert result.stderr == (
            "error: worker is scaled by its scaling policies (WorkersNeeded): a fixed count would switch them off; "
            "let them scale it, or change its range in the settings and deploy\n"
        )
    pinned = target(clients, deployed, "worker")
    assert (pinned["MinCapacity"], pinned["MaxCapacity"]) == (0, 10)
    assert desired(clients, deployed, "worker") == 1 and actions(clients, deployed, "worker") == {}
