"""A component's container logs from its CloudWatch log group (the stack's `<Component>LogGroup`
outputs), since a moment, and optionally followed as they arrive."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from airflow_ecs_cli.aws import error_code
from airflow_ecs_cli.errors import OperatorError
from airflow_ecs_cli.outputs import STANDALONE, StackOutputs
from deploy_airflow_on_ecs_fargate import contract

# Long-running components, and the one-off tasks and migrations of the standalone task definition.
LOG_SOURCES = (*contract.LONG_RUNNING_NAMES, STANDALONE)
FOLLOW_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class LogEvent:
    timestamp_ms: int
    stream: str
    message: str
    event_id: str

    @property
    def task(self) -> str:
        """The short task id at the end of an awslogs stream name (`prefix/container/<task id>`)."""
        return self.stream.rsplit("/", 1)[-1][:8]

    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000).astimezone()


def log_group(outputs: StackOutputs, source: str) -> str:
    if source == STANDALONE:
        return outputs.get("StandaloneLogGroup")
    return outputs.log_group(source)


def events(logs: Any, group: str, start_ms: int) -> Iterator[LogEvent]:
    """Every event of the group from `start_ms` on, oldest first across the streams."""
    request: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
    try:
        while True:
            answer = logs.filter_log_events(**request)
            for event in answer.get("events", []):
                yield LogEvent(event["timestamp"], event.get("logStreamName", ""), event["message"], event["eventId"])
            if not answer.get("nextToken"):
                return
            request["nextToken"] = answer["nextToken"]
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            raise OperatorError(f"log group {group} does not exist: was the stack deleted or never deployed?") from None
        raise


def pause(seconds: float) -> None:
    """Between two polls of --follow (a seam: tests do not wait)."""
    time.sleep(seconds)


def follow(
    logs: Any,
    group: str,
    start_ms: int,
    on_event: Callable[[LogEvent], None],
    *,
    sleep: Callable[[float], None] | None = None,
    poll_seconds: float = FOLLOW_POLL_SECONDS,
) -> None:
    """Pass every event on as it arrives, until interrupted (Ctrl-C)."""
    rest = sleep or pause
    seen_at_newest: set[str] = set()
    newest = start_ms
    while True:
        for event in events(logs, group, newest):
            # The next poll starts at the newest timestamp again: skip what was shown at it.
            if event.event_id in seen_at_newest:
                continue
            if event.timestamp_ms > newest:
                newest, seen_at_newest = event.timestamp_ms, set()
            seen_at_newest.add(event.event_id)
            on_event(event)
        rest(poll_seconds)
