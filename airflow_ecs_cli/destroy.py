"""`airflow-ecs destroy`: delete a deployment's stacks, the Airflow stack first (it uses the
registry's repository), and say what CloudFormation keeps.

What is kept is read from the deployed templates, not guessed from settings: every resource whose
DeletionPolicy is Retain (buckets, the image repository, with deletion protection the log groups
and secrets) or Snapshot (the database's final snapshot). A database with deletion protection on
would make the deletion fail half-way, so it is refused before anything is deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_ecs_cli import outputs
from airflow_ecs_cli.aws import Aws
from airflow_ecs_cli.cdk import CdkApp
from airflow_ecs_cli.commands import CommandFailed, Runner, execute
from airflow_ecs_cli.commands import run as run_command
from airflow_ecs_cli.deploy import Progress
from airflow_ecs_cli.deployment import Deployment
from airflow_ecs_cli.errors import OperatorError

RETAINED = ("Retain", "RetainExceptOnCreate")
KINDS = {
    "AWS::S3::Bucket": "S3 bucket",
    "AWS::ECR::Repository": "image repository",
    "AWS::Logs::LogGroup": "log group",
    "AWS::RDS::DBInstance": "database",
    "AWS::SecretsManager::Secret": "secret",
}


@dataclass(frozen=True)
class StackToDelete:
    name: str
    resources: int


@dataclass(frozen=True)
class DestroyPlan:
    stacks: tuple[StackToDelete, ...]
    kept: tuple[str, ...]
    # Why deleting would fail half-way, when it would.
    blocker: str | None


def _template(cloudformation: Any, stack: str) -> dict:
    body = cloudformation.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    return body if isinstance(body, dict) else json.loads(body)


def _physical_ids(cloudformation: Any, stack: str) -> dict[str, str]:
    found = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
        for resource in page["StackResourceSummaries"]:
            found[resource["LogicalResourceId"]] = resource.get("PhysicalResourceId", "")
    return found


def plan(aws: Aws, deployment: Deployment) -> DestroyPlan:
    """What would be deleted and kept; reads only."""
    cloudformation = aws.client("cloudformation")
    order = (deployment.stack_name, deployment.registry_stack_name)
    existing = [name for name in order if outputs.describe_stack(aws, name) is not None]
    if not existing:
        raise OperatorError(f"nothing to delete: neither {' nor '.join(order)} exists in {aws.region}")
    stacks, kept, blocker = [], [], None
    for name in existing:
        template = _template(cloudformation, name)
        resources = template.get("Resources", {})
        physical = _physical_ids(cloudformation, name)
        stacks.append(StackToDelete(name, len(resources)))
        for logical, resource in resources.items():
            kind = KINDS.get(resource.get("Type", ""), resource.get("Type", ""))
            shown = physical.get(logical) or logical
            policy = resource.get("DeletionPolicy", "Delete")
            if resource.get("Type") == "AWS::RDS::DBInstance" and resource.get("Properties", {}).get(
                "DeletionProtection"
            ) in (True, "true"):
                blocker = (
                    f"the database {shown} of {name} has deletion protection: deploy once with "
                    "--settings db_deletion_protection=false, then destroy"
                )
            if policy in RETAINED:
                kept.append(f"{kind} {shown} ({name})")
            elif policy == "Snapshot":
                kept.append(f"a final snapshot of the {kind} {shown} ({name})")
    return DestroyPlan(tuple(stacks), tuple(kept), blocker)


def destroy(aws: Aws, app: CdkApp, to_delete: DestroyPlan, progress: Progress, run: Runner | None = None) -> None:
    """Delete the planned stacks in order; stop at the first that fails."""
    run = run or run_command
    if to_delete.blocker:
        raise OperatorError(f"nothing deleted: {to_delete.blocker}")
    for number, stack in enumerate(to_delete.stacks, start=1):
        progress.step(number, len(to_delete.stacks), f"delete {stack.name}")
        try:
            execute(app.destroy(stack.name), run, progress.detail)
        except CommandFailed as failure:
            done = ", ".join(s.name for s in to_delete.stacks[: number - 1]) or "nothing"
            raise OperatorError(f"deleting {stack.name} failed: {failure}; deleted so far: {done}") from None
        if outputs.describe_stack(aws, stack.name) is not None:
            raise OperatorError(f"stack {stack.name} still exists after `cdk destroy`: see its events in the console")
