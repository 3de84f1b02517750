"""Custom resource handlers: run the standalone task with `init` and wait for its exit code.

CloudFormation calls `on_event` when the resource is created or its properties change (a new
task definition revision, i.e. a new image or configuration); the Provider framework then polls
`is_complete` until the task has stopped. A non-zero exit code fails the resource, so the
deployment rolls back before any service runs new code on an old schema.

- RunTask refused for lack of Fargate capacity is tried again with backoff while this Lambda has
  time left (a capacity shortage in one zone usually passes within minutes).
- A task still running at the deadline (`TimeoutSeconds`, shorter than the Provider's own total
  timeout) is stopped before the resource fails: nothing keeps migrating behind a rolled-back deploy.
- A task that stopped without an exit code never ran its container (image pull, secrets, network):
  the resource fails with ECS's reason.
"""

from __future__ import annotations

import logging
import re
import time

import boto3
from botocore.config import Config

log = logging.getLogger()
log.setLevel(logging.INFO)

# Operators and `airflow-ecs deploy` find the migration tasks by this.
STARTED_BY = "cloudformation-migrations"
DEFAULT_TIMEOUT_SECONDS = 25 * 60
# RunTask failures worth another try: Fargate capacity (and EC2-style resource shortages).
RETRYABLE_FAILURE = re.compile(r"capacity|RESOURCE:", re.IGNORECASE)
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 60.0
# Left to the Lambda after the last try, to report the failure.
SPARE_MILLISECONDS = 15_000


def _ecs():
    # Standard retry mode: throttling and 5xx answers are retried by botocore with backoff.
    return boto3.client("ecs", config=Config(retries={"mode": "standard", "max_attempts": 5}))


def _now() -> float:
    return time.time()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _revision(task_definition_arn: str) -> tuple[str, int]:
    family, _, revision = task_definition_arn.rpartition("/")[2].rpartition(":")
    return family, int(revision)


def is_rollback(event: dict) -> bool:
    """An update back to an older revision of the same family is CloudFormation rolling back.

    Running the old image's `init` against a schema the new image already migrated would fail
    (Alembic does not know the newer revision) and leave the stack in UPDATE_ROLLBACK_FAILED.
    """
    if event["RequestType"] != "Update":
        return False
    new_family, new_revision = _revision(event["ResourceProperties"]["TaskDefinition"])
    old_family, old_revision = _revision(event["OldResourceProperties"]["TaskDefinition"])
    return new_family == old_family and new_revision < old_revision


def _remaining_milliseconds(context: object) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    # Without a Lambda context (tests, a manual call) allow one minute, as the old timeout did.
    return float(remaining()) if remaining else 60_000.0


def _run_task(props: dict, context: object) -> str:
    """RunTask, tried again with backoff while it fails for capacity and time is left; the task ARN."""
    ecs = _ecs()
    delay = FIRST_RETRY_SECONDS
    attempt = 0
    while True:
        attempt += 1
        response = ecs.run_task(
            cluster=props["Cluster"],
            taskDefinition=props["TaskDefinition"],
            count=1,
            capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": props["Subnets"],
                    "securityGroups": props["SecurityGroups"],
                    "assignPublicIp": props["AssignPublicIp"],
                }
            },
            overrides={"containerOverrides": [{"name": props["ContainerName"], "command": props["Command"]}]},
            startedBy=STARTED_BY,
        )
        failures = response.get("failures") or []
        if response.get("tasks") and not failures:
            return response["tasks"][0]["taskArn"]
        reasons = "; ".join(f"{f.get('reason')} ({f.get('detail') or f.get('arn', '')})" for f in failures)
        retryable = bool(failures) and all(RETRYABLE_FAILURE.search(str(f.get("reason", ""))) for f in failures)
        if not retryable or _remaining_milliseconds(context) < delay * 1000 + SPARE_MILLISECONDS:
            raise RuntimeError(
                f"could not start the migration task after {attempt} attempt(s): {reasons or 'no task and no reason'}"
            )
        log.info("RunTask attempt %d failed (%s); trying again in %.0f s", attempt, reasons, delay)
        _sleep(delay)
        delay = min(delay * 2, MAX_RETRY_SECONDS)


def on_event(event: dict, context: object = None) -> dict:
    props = event["ResourceProperties"]
    physical_id = event.get("PhysicalResourceId") or f"{props['Cluster']}/migrations"
    if event["RequestType"] == "Delete" or is_rollback(event):
        log.info("nothing to run for %s", event["RequestType"])
        return {"PhysicalResourceId": physical_id, "Data": {"TaskArn": ""}}
    task_arn = _run_task(props, context)
    deadline = _now() + float(props.get("TimeoutSeconds", DEFAULT_TIMEOUT_SECONDS))
    log.info("started %s", task_arn)
    return {"PhysicalResourceId": physical_id, "Data": {"TaskArn": task_arn, "Deadline": str(int(deadline))}}


def is_complete(event: dict, context: object = None) -> dict:
    data = event.get("Data", {})
    task_arn = data.get("TaskArn")
    if not task_arn:
        return {"IsComplete": True}
    props = event["ResourceProperties"]
    ecs = _ecs()
    tasks = ecs.describe_tasks(cluster=props["Cluster"], tasks=[task_arn])["tasks"]
    if not tasks:
        raise RuntimeError(f"migration task {task_arn} disappeared")
    task = tasks[0]
    if task.get("lastStatus") != "STOPPED":
        deadline = float(data.get("Deadline") or 0)
        if deadline and _now() > deadline:
            ecs.stop_task(
                cluster=props["Cluster"], task=task_arn, reason="migration timed out (deploy-time custom resource)"
            )
            raise RuntimeError(
                f"migration task {task_arn} did not finish in time (still {task.get('lastStatus')}): stopped it; "
                f"see log group {props['LogGroup']}"
            )
        return {"IsComplete": False}
    container: dict = next((c for c in task.get("containers", []) if c["name"] == props["ContainerName"]), {})
    exit_code = container.get("exitCode")
    if exit_code is None:
        reasons = "; ".join(r for r in (task.get("stoppedReason"), container.get("reason")) if r) or "no reason given"
        raise RuntimeError(
            f"migration task {task_arn} never ran its container ({task.get('stopCode', 'no stop code')}): {reasons}"
        )
    if exit_code != 0:
        raise RuntimeError(
            f"migration task {task_arn} failed: exit code {exit_code}, "
            f"{task.get('stoppedReason', 'no reason given')}; see log group {props['LogGroup']}"
        )
    return {"IsComplete": True, "Data": {"TaskArn": task_arn}}
