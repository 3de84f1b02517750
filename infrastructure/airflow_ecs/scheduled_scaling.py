"""Scale the always-on components to zero at night and back in the morning (the seed's
scale-to-zero of webserver and scheduler), in the operator's time zone.

The dag-processor and triggerer follow the scheduler: with it stopped nothing runs, so they would
only cost money. Workers are left alone: stopping them could kill a running task; queue-driven
worker scaling is its own concern. A deploy at night sets the services' desired counts back to
their daytime values until the next stop.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import TimeZone
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from airflow_ecs.settings import ScheduledScaling as ScheduleSettings
from airflow_ecs.settings import cron_fields


class ScheduledScaling(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        schedule: ScheduleSettings,
        services: Sequence[tuple[ecs.FargateService, int]],
    ) -> None:
        super().__init__(scope, id)
        time_zone = TimeZone.of(schedule.time_zone)
        stop_hour, stop_minute = cron_fields(schedule.stop_at)
        start_hour, start_minute = cron_fields(schedule.start_at)
        self.targets: list[ecs.ScalableTaskCount] = []
        for service, daytime_count in services:
            if daytime_count == 0:
                continue
            target = service.auto_scale_task_count(min_capacity=daytime_count, max_capacity=daytime_count)
            target.scale_on_schedule(
                "StopAtNight",
                schedule=appscaling.Schedule.cron(hour=stop_hour, minute=stop_minute),
                time_zone=time_zone,
                min_capacity=0,
                max_capacity=0,
            )
            target.scale_on_schedule(
                "StartInTheMorning",
                schedule=appscaling.Schedule.cron(
                    hour=start_hour, minute=start_minute, week_day=",".join(schedule.start_days)
                ),
                time_zone=time_zone,
                min_capacity=daytime_count,
                max_capacity=daytime_count,
            )
            self.targets.append(target)
