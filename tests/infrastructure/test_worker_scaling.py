"""Worker autoscaling in the templates: from the idle count to the maximum on the demand metric,
step policy with exact capacities, high-resolution alarms, task protection for workers only."""

from __future__ import annotations

import pytest

from deploy_airflow_on_ecs_fargate import worker_demand
from tests.infrastructure.templates import DEPLOYMENTS, dumps, resources


def worker_target(template: dict) -> tuple[str, dict]:
    for name, target in resources(template, "AWS::ApplicationAutoScaling::ScalableTarget").items():
        if name.startswith("WorkerService"):
            return name, target["Properties"]
    raise AssertionError("no scalable target for the workers")


@pytest.mark.parametrize("deployment", ["dev", "prod"])
def test_workers_scale_from_their_idle_count_to_the_maximum(raw_templates, deployment):
    settings = DEPLOYMENTS[deployment]
    _, target = worker_target(raw_templates[deployment])
    assert (target["MinCapacity"], target["MaxCapacity"]) == (settings.worker.count, settings.worker_max_count)
    assert settings.worker.count == 0, "both shipped profiles scale workers to zero when idle"


@pytest.mark.parametrize("deployment", ["dev", "prod"])
def test_one_step_policy_sets_exactly_the_workers_needed(raw_templates, deployment):
    template = raw_templates[deployment]
    settings = DEPLOYMENTS[deployment]
    name, _ = worker_target(template)
    policies = [
        p["Properties"]
        for p in resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
        if p["Properties"]["ScalingTargetId"] == {"Ref": name}
    ]
    steps = {}
    for policy in policies:
        config = policy["StepScalingPolicyConfiguration"]
        assert config["AdjustmentType"] == "ExactCapacity"
        assert config["MetricAggregationType"] == "Maximum"
        assert config.get("Cooldown", 0) == 0
        for step in config["StepAdjustments"]:
            steps[(step.get("MetricIntervalLowerBound"), step.get("MetricIntervalUpperBound"))] = step[
                "ScalingAdjustment"
            ]
    # Intervals are relative to each alarm's threshold: 0 for the idle policy, 1 for the other,
    # so [0, 1) above 1 means a metric of 1: one worker.
    assert steps[(None, 0)] == settings.worker.count
    upper = sorted((low, high, adjustment) for (low, high), adjustment in steps.items() if low is not None)
    expected = [(n - 1, n, n) for n in range(1, settings.worker_max_count)]
    assert upper == [*expected, (settings.worker_max_count - 1, None, settings.worker_max_count)]


@pytest.mark.parametrize("deployment", ["dev", "prod"])
def test_the_alarms_are_high_resolution_on_the_published_metric(raw_templates, deployment):
    template = raw_templates[deployment]
    alarms = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == worker_demand.METRIC_NAME
    ]
    assert len(alarms) == 2
    for alarm in alarms:
        assert alarm["Namespace"] == f"Airflow/{DEPLOYMENTS[deployment].name}"
        assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (10, 1, 1)
        assert alarm["Statistic"] == "Maximum"
    assert sorted((a["ComparisonOperator"], a["Threshold"]) for a in alarms) == [
        ("GreaterThanOrEqualToThreshold", 1),
        ("LessThanOrEqualToThreshold", 0),
    ]


def test_only_workers_may_set_task_protection(raw_templates):
    template = raw_templates["dev"]
    holders = [
        name
        for name, policy in resources(template, "AWS::IAM::Policy").items()
        if "ecs:UpdateTaskProtection" in dumps(policy)
    ]
    assert len(holders) == 1 and holders[0].startswith("WorkerTaskTaskDefinitionTaskRole")
