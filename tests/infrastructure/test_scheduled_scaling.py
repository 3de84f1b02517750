"""Scale-to-zero at night for the always-on components, in a time zone; workers untouched."""

from __future__ import annotations

import re

from tests.infrastructure.templates import resources


def _targets(template: dict) -> dict[str, dict]:
    targets = {}
    for target in resources(template, "AWS::ApplicationAutoScaling::ScalableTarget").values():
        resource_id = target["Properties"]["ResourceId"]["Fn::Join"][1]
        service = resource_id[-1]["Fn::GetAtt"][0]
        targets[service] = target["Properties"]
    return targets


def test_dev_stops_four_components_at_night_and_starts_them_on_weekdays(raw_templates):
    targets = _targets(raw_templates["dev"])
    assert sorted(re.sub(r"[0-9A-F]{8}$", "", name) for name in targets) == [
        "ApiServerService",
        "DagProcessorService",
        "SchedulerService",
        "TriggererService",
    ]
    for target in targets.values():
        stop, start = target["ScheduledActions"]
        assert stop["Schedule"] == "cron(0 20 * * ? *)"
        assert stop["ScalableTargetAction"] == {"MinCapacity": 0, "MaxCapacity": 0}
        assert start["Schedule"] == "cron(0 7 ? * MON,TUE,WED,THU,FRI *)"
        assert start["ScalableTargetAction"] == {"MinCapacity": 1, "MaxCapacity": 1}
        assert stop["Timezone"] == start["Timezone"] == "UTC"


def test_prod_has_no_scheduled_scaling(templates):
    templates["prod"].resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
