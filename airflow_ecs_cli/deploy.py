"""`airflow-ecs deploy`: from nothing (or from any earlier, failed run) to a running deployment.

1. checks: credentials and region, settings, the CDK CLI, the image tag and a build tool. Nothing
   changes remotely before every check passes.
2. CDK bootstrap, when the account and region have none yet.
3. the registry stack.
4. the image: built, and pushed after a registry login, unless its tag is already there.
5. the Airflow stack, the tag as a stack-scoped parameter. CloudFormation runs the migrations
   (a custom resource) before any service rolls, and waits for the services.
6. the rollout: the stack complete, the migration task's exit code, every service stable.

Every step is safe to repeat: bootstrap and image are skipped when done, a stack deploy without
changes does nothing. So running `deploy` again resumes after whatever failed.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from airflow_ecs_cli import cdk, image, outputs, status
from airflow_ecs_cli.aws import Aws
from airflow_ecs_cli.commands import Command, CommandFailed, Runner, execute
from airflow_ecs_cli.commands import run as run_command
from airflow_ecs_cli.deployment import REPO_ROOT, Deployment
from airflow_ecs_cli.errors import OperatorError, bad_input

STEPS = ("checks", "CDK bootstrap", "registry stack", "image", "Airflow stack", "rollout")
BOOTSTRAP_STACK = "CDKToolkit"
# The migration custom resource starts its task with this (infrastructure/airflow_ecs/migrations_handler).
MIGRATION_STARTED_BY = "cloudformation-migrations"
ROLLOUT_TIMEOUT_SECONDS = 30 * 60.0
ROLLOUT_POLL_SECONDS = 15.0


class Progress(Protocol):
    def step(self, number: int, total: int, title: str) -> None: ...

    def detail(self, text: str) -> None: ...


class StepFailed(OperatorError):
    def __init__(self, number: int, reason: str) -> None:
        super().__init__(
            f"step {number}/{len(STEPS)} ({STEPS[number - 1]}) failed: {reason}. Fix that and run "
            "`airflow-ecs deploy` again: finished steps are skipped or change nothing"
        )
        self.number = number


@dataclass(frozen=True)
class DeployOptions:
    image_tag: str | None = None
    allow_dirty: bool = False
    # Let the CDK CLI deploy security-relevant changes without asking (scripts, CI).
    approve: bool = False
    builder: str | None = None
    rollout_timeout: float = ROLLOUT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Seams:
    """What tests replace: the external commands, tool lookup, and waiting."""

    run: Runner = run_command
    which: Callable[[str], str | None] = shutil.which
    engine_answers: Callable[[str], bool] = image.engine_answers
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class DeployResult:
    stack_name: str
    image_tag: str
    ui_url: str


def repository_uri(aws: Aws, registry_stack: str) -> str | None:
    stack = outputs.describe_stack(aws, registry_stack)
    if stack is None:
        return None
    found = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    return found.get("RepositoryUri")


def bootstrapped(aws: Aws) -> bool:
    return outputs.describe_stack(aws, BOOTSTRAP_STACK) is not None


def _execute(command: Command, number: int, progress: Progress, seams: Seams) -> None:
    try:
        execute(command, seams.run, progress.detail)
    except CommandFailed as failure:
        raise StepFailed(number, str(failure)) from None


def _check_target(deployment: Deployment, account: str, region: str) -> None:
    """Settings that name another account or region than the credentials would deploy elsewhere."""
    for name, actual in (("account", account), ("region", region)):
        wanted = deployment.overrides.get(name)
        if wanted and wanted != actual:
            raise bad_input(
                f"settings: {name}={wanted} but your AWS credentials are for {name} {actual}: use matching credentials "
                f"or --region, or drop the {name} setting"
            )


def deploy(
    aws: Aws,
    deployment: Deployment,
    options: DeployOptions,
    progress: Progress,
    seams: Seams | None = None,
    repo_root: Path | None = None,
) -> DeployResult:
    seams = seams or Seams()
    repo_root = repo_root or REPO_ROOT
    total = len(STEPS)

    progress.step(1, total, STEPS[0])
    identity = aws.identity()
    _check_target(deployment, identity.account, identity.region)
    cdk.ensure_cli()
    app = cdk.CdkApp(deployment, identity.account, identity.region, aws.profile)
    ecr = aws.client("ecr")
    if options.image_tag is not None:
        tag = image.check_tag(options.image_tag)
    else:
        tag = image.git_tag(repo_root, allow_dirty=options.allow_dirty)
    registry = repository_uri(aws, deployment.registry_stack_name)
    present = registry is not None and image.in_registry(ecr, registry, tag)
    if options.image_tag is not None and not present:
        raise bad_input(
            f"--image-tag {tag}: no such image in {registry or 'the registry (not deployed yet)'}: "
            "push it first, or leave out --image-tag to build the current commit"
        )
    builder = None if present else image.choose_builder(options.builder, seams.which, seams.engine_answers)
    progress.detail(f"AWS account {identity.account}, region {identity.region} ({identity.arn})")
    progress.detail(
        f"stacks {deployment.registry_stack_name} and {deployment.stack_name} (profile {deployment.profile}); "
        f"image tag {tag}" + (f", built with {builder}" if builder else ", already in the registry")
    )

    progress.step(2, total, STEPS[1])
    if bootstrapped(aws):
        progress.detail(f"aws://{identity.account}/{identity.region} is bootstrapped")
    else:
        progress.detail(
            f"aws://{identity.account}/{identity.region} is not bootstrapped yet: bootstrapping it "
            "(once per account and region: a bucket and roles for the CDK's assets)"
        )
        _execute(app.bootstrap(), 2, progress, seams)

    progress.step(3, total, STEPS[2])
    _execute(app.deploy(deployment.registry_stack_name, approve=options.approve), 3, progress, seams)
    registry = repository_uri(aws, deployment.registry_stack_name)
    if registry is None:
        raise StepFailed(3, f"stack {deployment.registry_stack_name} has no RepositoryUri output")

    progress.step(4, total, STEPS[3])
    if image.in_registry(ecr, registry, tag):
        progress.detail(f"{registry}:{tag} is already in the registry: not built again")
    else:
        assert builder is not None  # chosen in the checks whenever the image was missing
        architecture = deployment.settings.cpu_architecture
        plan = image.ImagePlan(builder, registry, tag, image.PLATFORMS[architecture], context=repo_root)
        progress.detail(f"building {plan.reference} for {', '.join(plan.platforms)} ({architecture})")
        for command in plan.build():
            _execute(command, 4, progress, seams)
        _execute(plan.login(image.registry_password(ecr)), 4, progress, seams)
        for command in plan.push():
            _execute(command, 4, progress, seams)

    progress.step(5, total, STEPS[4])
    _execute(
        app.deploy(deployment.stack_name, parameters={"ImageTag": tag}, approve=options.approve), 5, progress, seams
    )

    progress.step(6, total, STEPS[5])
    deployed = outputs.load(aws, deployment.stack_name)
    wait_for_rollout(aws, deployed, progress, seams, options.rollout_timeout)
    return DeployResult(deployment.stack_name, tag, deployed.ui_url)


def last_migration(ecs: Any, deployed: outputs.StackOutputs) -> dict | None:
    """The newest migration task of the deployed revision, if ECS still lists it (about an hour)."""
    revision = deployed.get("StandaloneTaskDefinitionArn")
    arns: list[str] = []
    for desired in ("STOPPED", "RUNNING"):
        arns += ecs.list_tasks(cluster=deployed.cluster, startedBy=MIGRATION_STARTED_BY, desiredStatus=desired).get(
            "taskArns", []
        )
    if not arns:
        return None
    tasks = ecs.describe_tasks(cluster=deployed.cluster, tasks=arns[:100]).get("tasks", [])
    ours = [task for task in tasks if task.get("taskDefinitionArn") == revision]
    return max(ours, key=lambda task: str(task.get("createdAt", "")), default=None)


def _describe_migration(task: dict | None, revision: str) -> str:
    if task is None:
        return f"migrations: no task for revision {revision} in ECS's recent tasks (it ran in an earlier deploy)"
    container = (task.get("containers") or [{}])[0]
    exit_code = container.get("exitCode") if task.get("lastStatus") == "STOPPED" else None
    outcome = f"exited with {exit_code}" if exit_code is not None else str(task.get("lastStatus", "")).lower()
    return f"migrations: task {task['taskArn'].rsplit('/', 1)[-1]} (revision {revision}) {outcome}"


def wait_for_rollout(
    aws: Aws, deployed: outputs.StackOutputs, progress: Progress, seams: Seams, timeout: float
) -> None:
    if deployed.status not in status.GOOD_STACK_STATUSES:
        raise StepFailed(6, f"stack {deployed.stack_name} is {deployed.status}")
    ecs = aws.client("ecs")
    revision = re.sub(r"^.*/", "", deployed.get("StandaloneTaskDefinitionArn"))
    progress.detail(_describe_migration(last_migration(ecs, deployed), revision))
    deadline = seams.clock() + timeout
    shown = ""
    while True:
        current = status.services(ecs, deployed)
        waiting = [service for service in current if not service.settled]
        if not waiting:
            summary = ", ".join(f"{s.component} {s.running}/{s.desired}" for s in current)
            progress.detail(f"every service is stable: {summary}")
            return
        line = "waiting for " + ", ".join(
            f"{s.component} ({s.running}/{s.desired} running, {s.rollout.lower() or 'rolling'})" for s in waiting
        )
        if line != shown:
            progress.detail(line)
            shown = line
        if seams.clock() > deadline:
            worst = waiting[0]
            raise StepFailed(
                6,
                f"not stable after {timeout / 60:.0f} min: {worst.component} runs {worst.running} of {worst.desired}"
                f" ({worst.rollout_reason or worst.rollout}); `airflow-ecs logs {worst.component}` shows why",
            )
        seams.sleep(ROLLOUT_POLL_SECONDS)
