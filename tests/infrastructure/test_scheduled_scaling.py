"""Scale-to-zero at night for the always-on components, in a time zone; workers untouched."""

from __future__ import annotations

import re

import pytest

from tests.infrastructure.templates import resources


def _targets(template: dict) -> dict[str, dict]:
    targets = {}
    for target in resources(template, "AWS::ApplicationAutoScaling::ScalableTarget").values():
        resource_id = target["Properties"]["ResourceId"]["Fn::Join"][1]
        service = resource_id[-1]["Fn::GetAtt"][0]
        targets[service] = target["Properties"]
    return targets


@pytest.mark.parametrize(
    ("deployment", "services"),
    [
        # dev: the four components are containers of the one control-plane task.
        ("dev", ["ControlPlaneService"]),
        ("dev-allowlist", ["ApiServerService", "DagProcessorService", "SchedulerService", "TriggererService"]),
    ],
)
def test_dev_stops_the_control_plane_at_night_and_starts_it_on_weekdays(raw_templates, deployment, services):
    # The worker's target belongs to its autoscaling (test_worker_scaling.py), not to the clock.
    targets = {name: target for name, target in _targets(raw_templates[deployment]).items() if "Worker" not in name}
    assert sorted(re.sub(r"[0-9A-F]{8}$", "", name) for name in targets) == services
    for service, target in targets.items():
        stop, start = target["ScheduledActions"]
        assert stop["Schedule"] == "cron(0 20 * * ? *)"
        assert stop["ScalableTargetAction"] == {"MinCapacity": 0, "MaxCapacity": 0}
        assert start["Schedule"] == "cron(0 7 ? * MON,TUE,WED,THU,FRI *)"
        # Back to the daytime count the service is deployed with.
        daytime = raw_templates[deployment]["Resources"][service]["Properties"]["DesiredCount"]
        assert start["ScalableTargetAction"] == {"MinCapacity": daytime, "MaxCapacity": daytime} and daytime >= 1
        assert stop["Timezone"] == start["Timezone"] == "UTC"


def test_prod_has_no_scheduled_scaling(raw_templates):
    targets = _targets(raw_templates["prod"])
    assert [re.sub(r"[0-9A-F]{8}$", "", name) for name in targets] == ["WorkerService"]
    assert all("ScheduledActions" not in target for target in targets.values())
