"""Custom resource handlers: run the standalone task with `init` and wait for its exit code.

CloudFormation calls `on_event` when the resource is created or its properties change (a new
task definition revision, i.e. a new image or configuration); the Provider framework then polls
`is_complete` until the task has stopped. A non-zero exit code fails the resource, so the
deployment rolls back before any service runs new code on an old schema.
"""

from __future__ import annotations

import logging

import boto3

log = logging.getLogger()
log.setLevel(logging.INFO)


def _ecs():
    return boto3.client("ecs")


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


def on_event(event: dict, context: object = None) -> dict:
    props = event["ResourceProperties"]
    physical_id = event.get("PhysicalResourceId") or f"{props['Cluster']}/migrations"
    if event["RequestType"] == "Delete" or is_rollback(event):
        log.info("nothing to run for %s", event["RequestType"])
        return {"PhysicalResourceId": physical_id, "Data": {"TaskArn": ""}}
    response = _ecs().run_task(
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
        startedBy="cloudformation-migrations",
    )
    if response.get("failures") or not response.get("tasks"):
        raise RuntimeError(f"could not start the migration task: {response.get('failures')}")
    task_arn = response["tasks"][0]["taskArn"]
    log.info("started %s", task_arn)
    return {"PhysicalResourceId": physical_id, "Data": {"TaskArn": task_arn}}


def is_complete(event: dict, context: object = None) -> dict:
    task_arn = event.get("Data", {}).get("TaskArn")
    if not task_arn:
        return {"IsComplete": True}
    props = event["ResourceProperties"]
    tasks = _ecs().describe_tasks(cluster=props["Cluster"], tasks=[task_arn])["tasks"]
    if not tasks:
        raise RuntimeError(f"migration task {task_arn} disappeared")
    task = tasks[0]
    if task.get("lastStatus") != "STOPPED":
        return {"IsComplete": False}
    container: dict = next((c for c in task.get("containers", []) if c["name"] == props["ContainerName"]), {})
    exit_code = container.get("exitCode")
    if exit_code != 0:
        raise RuntimeError(
            f"migration task {task_arn} failed: exit code {exit_code}, "
            f"{task.get('stoppedReason', 'no reason given')}; see log group {props['LogGroup']}"
        )
    return {"IsComplete": True, "Data": {"TaskArn": task_arn}}
