"""One-off Airflow commands as Fargate tasks on the standalone task definition (the seed's
scripts/run_task.py): start, stream the container's log lines, and return its exit code.

The task definition's entry point is the runtime's (`python -m deploy_airflow_on_ecs_fargate`), so
the container command is the contract's `airflow` component followed by the Airflow arguments,
passed as a list: quotes and spaces reach Airflow intact (the seed split on spaces).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from airflow_ecs_cli.aws import error_code
from airflow_ecs_cli.errors import OperatorError, bad_input
from airflow_ecs_cli.outputs import StackOutputs
from deploy_airflow_on_ecs_fargate import contract

CAPACITY_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
STARTED_BY = "airflow-ecs"
# The component of the runtime contract that runs any `airflow` command with the deployment's configuration.
AIRFLOW_COMPONENT = contract.component("airflow").name
# The runtime's other one-off components (`--component`), e.g. db-clean as its schedule runs it.
ONE_OFF_COMPONENTS = tuple(c.name for c in contract.COMPONENTS if not c.long_running and c.name != AIRFLOW_COMPONENT)
# Exit code when the container never ran (capacity, network interface, image pull, secrets):
# distinct from any exit code of the command itself, as `docker run` does with 125.
NEVER_STARTED = 125
POLL_SECONDS = 3.0
START_TIMEOUT_SECONDS = 600.0
RUNNING_OR_LATER = ("RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED")


@dataclass(frozen=True)
class TaskSpec:
    cluster: str
    task_definition: str
    container: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    assign_public_ip: bool
    # The whole container command, e.g. ("airflow", "dags", "list").
    command: tuple[str, ...]
    cpu: int | None = None
    memory: int | None = None
    capacity_provider: str = "FARGATE"


@dataclass(frozen=True)
class TaskResult:
    task_arn: str
    last_status: str
    exit_code: int | None
    stop_code: str
    stopped_reason: str
    container_reason: str

    @property
    def never_started(self) -> bool:
        return self.exit_code is None

    def why_not_started(self) -> str:
        reasons = [reason for reason in (self.stopped_reason, self.container_reason) if reason]
        return "; ".join(reasons) or "ECS gave no reason"


def airflow_command(arguments: Sequence[str]) -> tuple[str, ...]:
    if not arguments:
        raise bad_input("no Airflow command: give one after --, e.g. `airflow-ecs run-task -- dags list`")
    return (AIRFLOW_COMPONENT, *arguments)


def component_command(component: str, arguments: Sequence[str]) -> tuple[str, ...]:
    """A one-off component of the runtime with extra arguments, e.g. ("db-clean", "--dry-run")."""
    if component not in ONE_OFF_COMPONENTS:
        raise bad_input(f"--component: {component!r} is not one of {', '.join(ONE_OFF_COMPONENTS)}")
    return (component, *arguments)


def split_command(text: str) -> list[str]:
    """The seed's `--command 'users create --firstname "Ada L."'`, split as a shell would."""
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise bad_input(f"--command: {error} in {text!r}") from None
    if not words:
        raise bad_input("--command is empty: give the Airflow command, e.g. --command 'dags list'")
    return words


def spec_from_stack(
    outputs: StackOutputs,
    command: tuple[str, ...],
    *,
    cpu: int | None = None,
    memory: int | None = None,
    capacity_provider: str = "FARGATE",
) -> TaskSpec:
    return TaskSpec(
        cluster=outputs.cluster,
        task_definition=outputs.standalone_family,
        container=outputs.standalone_container,
        subnets=outputs.task_subnets,
        security_groups=(outputs.standalone_security_group,),
        assign_public_ip=outputs.assign_public_ip,
        command=command,
        cpu=cpu,
        memory=memory,
        capacity_provider=capacity_provider,
    )


def validate(spec: TaskSpec, fargate_sizes: Mapping[int, Sequence[int]]) -> None:
    """Refuse what ECS would refuse, before starting anything."""
    if spec.capacity_provider not in CAPACITY_PROVIDERS:
        raise bad_input(
            f"--capacity-provider: {spec.capacity_provider!r} is not one of {', '.join(CAPACITY_PROVIDERS)}"
        )
    if (spec.cpu is None) != (spec.memory is None):
        raise bad_input("--cpu and --memory go together: Fargate sizes a task by both, e.g. --cpu 1024 --memory 2048")
    if spec.cpu is not None and spec.memory is not None:
        if spec.cpu not in fargate_sizes:
            raise bad_input(
                f"--cpu: {spec.cpu} is not a Fargate size: expected one of {', '.join(map(str, fargate_sizes))}"
            )
        if spec.memory not in fargate_sizes[spec.cpu]:
            allowed = fargate_sizes[spec.cpu]
            raise bad_input(
                f"--memory: {spec.memory} MiB does not go with --cpu {spec.cpu}: Fargate allows {allowed[0]} to {allowed[-1]} MiB"
            )
    if not spec.subnets:
        raise bad_input("no subnets: name them with --public-subnet-ids (or let the stack's outputs give them)")
    if not spec.security_groups or not all(spec.security_groups):
        raise bad_input("no security group: name it with --security-group (or let the stack's outputs give it)")


def start(ecs: Any, spec: TaskSpec) -> str:
    """Start the task; its ARN. ECS's refusal (capacity, bad subnet) is one line."""
    overrides: dict[str, Any] = {"containerOverrides": [{"name": spec.container, "command": list(spec.command)}]}
    if spec.cpu is not None and spec.memory is not None:
        overrides.update(cpu=str(spec.cpu), memory=str(spec.memory))
        # The container's own memory is a hard limit (the task definitions set it): raise it too.
        overrides["containerOverrides"][0]["memory"] = spec.memory
    response = ecs.run_task(
        cluster=spec.cluster,
        taskDefinition=spec.task_definition,
        count=1,
        capacityProviderStrategy=[{"capacityProvider": spec.capacity_provider, "weight": 1}],
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(spec.subnets),
                "securityGroups": list(spec.security_groups),
                "assignPublicIp": "ENABLED" if spec.assign_public_ip else "DISABLED",
            }
        },
        overrides=overrides,
        startedBy=STARTED_BY,
    )
    if response.get("failures") or not response.get("tasks"):
        failures = "; ".join(
            f"{failure.get('reason', 'unknown')} ({failure.get('detail') or failure.get('arn', '')})"
            for failure in response.get("failures", [])
        )
        hint = " (Spot capacity: try --capacity-provider FARGATE)" if spec.capacity_provider == "FARGATE_SPOT" else ""
        raise OperatorError(f"ECS did not start the task: {failures or 'no task and no reason returned'}{hint}")
    return str(response["tasks"][0]["taskArn"])


def task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def describe_task(ecs: Any, cluster: str, task_arn: str) -> dict:
    """The task as ECS reports it now (a seam: tests replace it where moto cannot act, e.g. exit codes)."""
    answer = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])
    if not answer.get("tasks"):
        raise OperatorError(
            f"task {task_arn} is not in cluster {cluster} any more (ECS keeps stopped tasks about an hour)"
        )
    return dict(answer["tasks"][0])


def pause(seconds: float) -> None:
    """Between two polls (a seam: tests do not wait)."""
    time.sleep(seconds)


@dataclass(frozen=True)
class LogStream:
    group: str
    stream: str


def log_stream(ecs: Any, task_definition_arn: str, container: str, task_arn: str) -> LogStream | None:
    """Where the awslogs driver writes this task's container output: `<prefix>/<container>/<task id>`."""
    definition = ecs.describe_task_definition(taskDefinition=task_definition_arn)["taskDefinition"]
    for candidate in definition.get("containerDefinitions", []):
        if candidate.get("name") != container:
            continue
        configuration = candidate.get("logConfiguration") or {}
        options = configuration.get("options") or {}
        if configuration.get("logDriver") != "awslogs" or not options.get("awslogs-stream-prefix"):
            return None
        return LogStream(
            options["awslogs-group"], f"{options['awslogs-stream-prefix']}/{container}/{task_id(task_arn)}"
        )
    return None


class LogTail:
    """The lines of one log stream not yet read, oldest first."""

    def __init__(self, logs: Any, stream: LogStream) -> None:
        self.logs = logs
        self.stream = stream
        self.token: str | None = None

    def read_new(self) -> list[str]:
        lines: list[str] = []
        while True:
            request = {"logGroupName": self.stream.group, "logStreamName": self.stream.stream, "startFromHead": True}
            if self.token:
                request["nextToken"] = self.token
            try:
                answer = self.logs.get_log_events(**request)
            except ClientError as error:
                # The stream appears with the container's first line.
                if error_code(error) == "ResourceNotFoundException":
                    return lines
                raise
            lines += [event["message"] for event in answer.get("events", [])]
            # At the end of the stream CloudWatch returns the token it was given.
            if answer.get("nextForwardToken") in (None, self.token):
                return lines
            self.token = answer["nextForwardToken"]


def wait(
    ecs: Any,
    logs: Any,
    spec: TaskSpec,
    task_arn: str,
    *,
    on_status: Callable[[str], None],
    on_line: Callable[[str], None],
    describe: Callable[[str], dict] | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    poll_seconds: float = POLL_SECONDS,
    start_timeout: float = START_TIMEOUT_SECONDS,
) -> TaskResult:
    """Follow the task until it stops, passing each status change and each log line on."""
    look = describe or (lambda arn: describe_task(ecs, spec.cluster, arn))
    rest = sleep or pause
    began = clock()
    status = ""
    tail: LogTail | None = None
    while True:
        task = look(task_arn)
        if task.get("lastStatus", "") != status:
            status = task.get("lastStatus", "")
            on_status(status)
        if tail is None and status in RUNNING_OR_LATER:
            stream = log_stream(ecs, task.get("taskDefinitionArn", spec.task_definition), spec.container, task_arn)
            tail = LogTail(logs, stream) if stream else None
        if tail is not None:
            for line in tail.read_new():
                on_line(line)
        if status == "STOPPED":
            break
        if status not in RUNNING_OR_LATER and clock() - began > start_timeout:
            stop(ecs, spec.cluster, task_arn, f"did not start within {start_timeout:.0f} s (airflow-ecs)")
            raise OperatorError(
                f"task {task_id(task_arn)} did not start within {start_timeout:.0f} s (still {status}): stopped it. "
                "Check that the task subnets reach ECR and Secrets Manager (route to a NAT or internet gateway)",
                exit_code=NEVER_STARTED,
            )
        rest(poll_seconds)
    if tail is not None:
        # CloudWatch delivers the last lines a moment after the container exits.
        rest(poll_seconds)
        for line in tail.read_new():
            on_line(line)
    container: dict = next((c for c in task.get("containers", []) if c.get("name") == spec.container), {})
    exit_code = container.get("exitCode")
    return TaskResult(
        task_arn=task_arn,
        last_status=status,
        exit_code=int(exit_code) if exit_code is not None else None,
        stop_code=str(task.get("stopCode", "")),
        stopped_reason=str(task.get("stoppedReason", "")),
        container_reason=str(container.get("reason", "")),
    )


def stop(ecs: Any, cluster: str, task_arn: str, reason: str) -> None:
    ecs.stop_task(cluster=cluster, task=task_arn, reason=reason[:255])
