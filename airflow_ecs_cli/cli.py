"""The `airflow-ecs` command line: parses, calls the library modules of this package, formats.

Errors reach the operator as one line (`error: ...`) and a non-zero exit code; `--debug` (or
AIRFLOW_ECS_DEBUG=1) adds the traceback. Bad input exits with 2, a failed operation with 1, and
run-task with the container's own exit code.
"""

from __future__ import annotations

import functools
import signal
import subprocess
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from airflow_ecs_cli import (
    admin_password,
    dags,
    deploy,
    deployment,
    destroy,
    ecs_exec,
    local,
    logs,
    outputs,
    run_task,
    scale,
    status,
    times,
)
from airflow_ecs_cli.aws import Aws, translated
from airflow_ecs_cli.cdk import CdkApp
from airflow_ecs_cli.errors import OperatorError, bad_input
from deploy_airflow_on_ecs_fargate import contract

app = typer.Typer(
    name="airflow-ecs",
    help="Operate Apache Airflow on ECS Fargate: deploy, one-off tasks, exec, scaling, status, logs, the local stack.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help: the examples in each command's help keep their lines.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
local_app = typer.Typer(
    help="The Docker-free local stack (`make up`): start, stop, status, logs, and Airflow commands against it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(local_app, name="local")
dags_app = typer.Typer(
    help="DAGs of a deployment: push the DAGs folder to its DAG bucket (live within a minute, no deploy).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(dags_app, name="dags")

# What `--debug` switched on for this invocation (global option or per command).
_debug = {"on": False}

Function = TypeVar("Function", bound=Callable[..., Any])


def reported(function: Function) -> Function:
    """Errors as one line and an exit code; the traceback only with --debug."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug")) or _debug["on"]
        try:
            with translated():
                return function(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except OperatorError as error:
            if debug:
                traceback.print_exc()
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as unexpected:
            if debug:
                traceback.print_exc()
            typer.echo(f"error: unexpected {type(unexpected).__name__}: {unexpected} (--debug shows where)", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


# Options shared by the commands that act on a deployment.
Profile = Annotated[
    str,
    typer.Option(
        "--profile",
        envvar="AIRFLOW_ECS_PROFILE",
        help="settings profile of the deployment: dev or prod",
        show_default=True,
    ),
]
Settings = Annotated[
    list[str] | None,
    typer.Option(
        "--settings",
        envvar="AIRFLOW_ECS_SETTINGS",
        help="setting overrides name=value, as `make synth SETTINGS=...` (e.g. 'name=airflow-test worker.count=3')",
    ),
]
Stack = Annotated[
    str | None,
    typer.Option("--stack", envvar="AIRFLOW_ECS_STACK", help="the Airflow stack's name (default: from the settings)"),
]
Region = Annotated[
    str | None, typer.Option("--region", help="AWS region (default: AWS_REGION or your AWS profile's region)")
]
AwsProfile = Annotated[str | None, typer.Option("--aws-profile", help="AWS CLI profile of the credentials")]
Debug = Annotated[bool, typer.Option("--debug", envvar="AIRFLOW_ECS_DEBUG", help="show tracebacks")]


def _component(allowed: tuple[str, ...]) -> Callable[[str | None], str | None]:
    def check(value: str | None) -> str | None:
        if value is not None and value not in allowed:
            raise typer.BadParameter(f"unknown component {value!r}: expected one of {', '.join(allowed)}")
        return value

    return check


def _say(text: str) -> None:
    typer.echo(text)


def _note(text: str) -> None:
    typer.echo(text, err=True)


def _aws(region: str | None, aws_profile: str | None) -> Aws:
    return Aws(region=region, profile=aws_profile)


def _stack_outputs(aws: Aws, profile: str, settings: list[str] | None, stack: str | None) -> outputs.StackOutputs:
    name = deployment.stack_name(stack, profile, deployment.parse_overrides(settings or []))
    return outputs.load(aws, name)


class _Progress:
    def step(self, number: int, total: int, title: str) -> None:
        _say(f"[{number}/{total}] {title}")

    def detail(self, text: str) -> None:
        _say(f"      {text}")


@app.callback()
def options(debug: Debug = False) -> None:
    _debug["on"] = debug


@app.command("deploy")
@reported
def deploy_command(
    profile: Profile = deployment.DEFAULT_PROFILE,
    settings: Settings = None,
    image_tag: Annotated[
        str | None, typer.Option("--image-tag", help="deploy this tag, already in the registry, instead of building")
    ] = None,
    allow_dirty: Annotated[
        bool, typer.Option("--allow-dirty", help="build a tree with uncommitted changes (tag <sha>-dirty-<digest>)")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="deploy security-relevant changes without asking (CI)")] = False,
    builder: Annotated[
        str | None, typer.Option("--builder", help="docker or podman (default: Docker if its engine runs, else podman)")
    ] = None,
    region: Region = None,
    aws_profile: AwsProfile = None,
    debug: Debug = False,
) -> None:
    """Deploy or update a deployment in one command: bootstrap, registry, image, stack, migrations, rollout.

    Running it again after a failure resumes: finished steps are skipped or change nothing.

    \b
    Examples:
      airflow-ecs deploy                                  # dev, the current commit
      airflow-ecs deploy --profile prod --settings 'certificate_arn=arn:aws:acm:...'
      airflow-ecs deploy --image-tag 3f2a9c1b7d4e         # an image already pushed (a rollback)
    """
    target = deployment.load(profile, deployment.parse_overrides(settings or []))
    options = deploy.DeployOptions(image_tag=image_tag, allow_dirty=allow_dirty, approve=yes, builder=builder)
    result = deploy.deploy(_aws(region, aws_profile), target, options, _Progress())
    _say(f"Airflow is deployed: {result.ui_url}  (stack {result.stack_name}, image {result.image_tag})")
    _say(f"Log in as the admin user; `airflow-ecs admin-password --profile {profile}` prints the password.")


@app.command("destroy")
@reported
def destroy_command(
    profile: Profile = deployment.DEFAULT_PROFILE,
    settings: Settings = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask (scripts)")] = False,
    region: Region = None,
    aws_profile: AwsProfile = None,
    debug: Debug = False,
) -> None:
    """Delete a deployment's stacks (Airflow first, then the registry) after you type the stack's name.

    Says first what will be deleted and what is kept (retained buckets, the image repository, a
    final database snapshot when the settings protect data).

    \b
    Examples:
      airflow-ecs destroy                        # dev: asks you to type airflow-dev
      airflow-ecs destroy --profile prod --yes   # no question (scripts)
    """
    target = deployment.load(profile, deployment.parse_overrides(settings or []))
    aws = _aws(region, aws_profile)
    identity = aws.identity()
    to_delete = destroy.plan(aws, target)
    _say(f"In AWS account {identity.account}, region {identity.region}, this deletes:")
    for stack in to_delete.stacks:
        _say(f"  stack {stack.name} ({stack.resources} resources)")
    _say("and keeps:" if to_delete.kept else "and keeps nothing.")
    for item in to_delete.kept:
        _say(f"  {item}")
    if to_delete.blocker:
        raise OperatorError(f"nothing deleted: {to_delete.blocker}")
    if not yes:
        try:
            typed = typer.prompt(f"Type {target.stack_name} to delete it")
        except typer.Abort:
            raise OperatorError("nothing deleted: no confirmation (pass --yes in scripts)") from None
        if typed.strip() != target.stack_name:
            raise OperatorError(f"nothing deleted: {typed.strip()!r} is not {target.stack_name}")
    app_ = CdkApp(target, identity.account, identity.region, aws.profile)
    destroy.destroy(aws, app_, to_delete, _Progress())
    _say(f"Deleted {', '.join(stack.name for stack in to_delete.stacks)}.")
    if to_delete.kept:
        _say("Kept (delete by hand when no longer needed): " + "; ".join(to_delete.kept))


@app.command("run-task")
@reported
def run_task_command(
    airflow_args: Annotated[
        list[str] | None,
        typer.Argument(
            help="the Airflow command and its arguments, after --", metavar="-- AIRFLOW_ARGS", show_default=False
        ),
    ] = None,
    command: Annotated[
        str | None, typer.Option("--command", help="the seed's form: the Airflow command as one quoted string")
    ] = None,
    component: Annotated[
        str | None,
        typer.Option(
            "--component",
            help=f"run a one-off component of the runtime instead ({', '.join(run_task.ONE_OFF_COMPONENTS)}); "
            "arguments after -- are its own",
            show_default=False,
        ),
    ] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="ECS cluster (default: the stack's)")] = None,
    task_definition: Annotated[
        str | None, typer.Option("--task-definition", help="task definition (default: the stack's standalone one)")
    ] = None,
    container_name: Annotated[str | None, typer.Option("--container-name", help="its container")] = None,
    public_subnet_ids: Annotated[
        list[str] | None,
        typer.Option("--public-subnet-ids", help="subnets, comma-separated or repeated; the task gets a public IP"),
    ] = None,
    security_group: Annotated[str | None, typer.Option("--security-group", help="security group of the task")] = None,
    cpu: Annotated[int | None, typer.Option("--cpu", help="Fargate CPU units for this task, e.g. 1024")] = None,
    memory: Annotated[int | None, typer.Option("--memory", help="Fargate memory in MiB, e.g. 2048")] = None,
    capacity_provider: Annotated[
        str, typer.Option("--capacity-provider", help="FARGATE or FARGATE_SPOT")
    ] = run_task.CAPACITY_PROVIDERS[0],
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="follow the task and exit with its exit code, or print its ARN")
    ] = True,
    profile: Profile = deployment.DEFAULT_PROFILE,
    settings: Settings = None,
    stack: Stack = None,
    region: Region = None,
    aws_profile: AwsProfile = None,
    debug: Debug = False,
) -> None:
    """Run any Airflow command as a one-off Fargate task; stream its log and exit with its exit code.

    Cluster, subnets and security group come from the stack's outputs; the seed's flags
    (--cluster, --task-definition, --container-name, --public-subnet-ids, --security-group,
    --command) override them, and when they name everything the stack is not looked up.
    A task that never starts exits with 125 and ECS's reason. Ctrl-C asks whether to stop it.

    \b
    Examples:
      airflow-ecs run-task -- dags list
      airflow-ecs run-task -- dags trigger example_bash_operator --conf '{"note": "two words"}'
      airflow-ecs run-task --cpu 1024 --memory 2048 --capacity-provider FARGATE_SPOT -- db check
      airflow-ecs run-task --no-wait -- dags reserialize
      airflow-ecs run-task --component db-clean            # as its schedule runs it
      airflow-ecs run-task --component db-clean -- --dry-run
      airflow-ecs run-task --cluster airflow-dev --task-definition airflow-dev-standalone \\
          --container-name standalone --public-subnet-ids subnet-1 subnet-2 --security-group sg-1 \\
          --command 'dags list'
    """
    words = list(airflow_args or [])
    subnets = [part for value in public_subnet_ids or [] for part in value.split(",") if part]
    if command is not None:
        # The seed's `--public-subnet-ids subnet-a subnet-b`: the later ids arrive as arguments here.
        subnets += [word for word in words if word.startswith("subnet-")]
        if any(not word.startswith("subnet-") for word in words):
            raise bad_input("give the Airflow command after -- or with --command, not both")
        words = run_task.split_command(command)
    if component is not None:
        if command is not None:
            raise bad_input("give --component or --command, not both")
        container_command = run_task.component_command(component, words)
    else:
        container_command = run_task.airflow_command(words)
    aws = _aws(region, aws_profile)
    named = dict(
        cluster=cluster, task_definition=task_definition, container=container_name, security_group=security_group
    )
    if all(named.values()) and subnets:
        spec = run_task.TaskSpec(
            cluster=str(cluster),
            task_definition=str(task_definition),
            container=str(container_name),
            subnets=tuple(subnets),
            security_groups=(str(security_group),),
            assign_public_ip=True,
            command=container_command,
            cpu=cpu,
            memory=memory,
            capacity_provider=capacity_provider,
        )
    else:
        from_stack = run_task.spec_from_stack(
            _stack_outputs(aws, profile, settings, stack),
            container_command,
            cpu=cpu,
            memory=memory,
            capacity_provider=capacity_provider,
        )
        spec = run_task.TaskSpec(
            cluster=cluster or from_stack.cluster,
            task_definition=task_definition or from_stack.task_definition,
            container=container_name or from_stack.container,
            subnets=tuple(subnets) or from_stack.subnets,
            security_groups=(security_group,) if security_group else from_stack.security_groups,
            assign_public_ip=True if subnets else from_stack.assign_public_ip,
            command=container_command,
            cpu=cpu,
            memory=memory,
            capacity_provider=capacity_provider,
        )
    run_task.validate(spec, deployment.fargate_sizes())
    ecs = aws.client("ecs")
    task_arn = run_task.start(ecs, spec)
    if not wait:
        _say(task_arn)
        return
    short = run_task.task_id(task_arn)
    _note(f"started task {short} on {spec.capacity_provider} in cluster {spec.cluster}: {' '.join(spec.command)}")
    try:
        result = run_task.wait(
            ecs,
            aws.client("logs"),
            spec,
            task_arn,
            on_status=lambda state: _note(f"task {short}: {state}"),
            on_line=_say,
        )
    except KeyboardInterrupt:
        _interrupted(ecs, spec, task_arn)
        raise typer.Exit(130) from None
    if result.never_started:
        raise OperatorError(
            f"task {short} never ran its command: {result.why_not_started()}"
            + (f" ({result.stop_code})" if result.stop_code else ""),
            exit_code=run_task.NEVER_STARTED,
        )
    _note(f"task {short} exited with {result.exit_code}")
    raise typer.Exit(result.exit_code or 0)


def _interrupted(ecs: Any, spec: run_task.TaskSpec, task_arn: str) -> None:
    short = run_task.task_id(task_arn)
    try:
        stop_it = typer.confirm(f"\nstop task {short} in ECS too?", default=False, err=True)
    except typer.Abort:
        stop_it = False
    if stop_it:
        run_task.stop(ecs, spec.cluster, task_arn, "interrupted by the operator (airflow-ecs run-task)")
        _note(f"asked ECS to stop task {short}")
    else:
        _note(f"task {short} keeps running: aws ecs stop-task --cluster {spec.cluster} --task {task_arn}")


@dags_app.command("push")
@reported
def dags_push(
    folder: Annotated[
        Path, typer.Option("--folder", help="the DAGs folder to mirror into the bucket", show_default=True)
    ] = Path("dags"),
    profile: Profile = deployment.DEFAULT_PROFILE,
    settings: Settings = None,
    stack: Stack = None,
    region: Region = None,
    aws_profile: AwsProfile = None,
    debug: Debug = False,
) -> None:
    """Upload what changed in the DAGs folder to the deployment's DAG bucket, delete what is gone.

    Every Python file must compile first, or nothing is uploaded. `__pycache__` is skipped. The
    dag-processor fetches the bucket every 30 s and parses what changed; tasks started after
    that run the new code. Replaced and deleted files stay restorable (a versioned bucket).

    \b
    Examples:
      airflow-ecs dags push
      airflow-ecs dags push --folder ~/team-dags --profile prod --settings certificate_arn=...
    """
    local = dags.local_files(folder)
    dags.check_compiles(local)
    aws = _aws(region, aws_profile)
    deployed = _stack_outputs(aws, profile, settings, stack)
    bucket = dags.bucket_of(deployed)
    s3 = aws.client("s3")
    to_do = dags.plan(local, dags.remote_objects(s3, bucket))
    if to_do.empty:
        _say(f"nothing to push: s3://{bucket} already has the {to_do.unchanged} file(s) of {folder}")
        return
    _say(f"pushing {folder} to s3://{bucket} (stack {deployed.stack_name})")
    dags.push(s3, bucket, local, to_do, on_change=lambda verb, key: _say(f"  {verb:<8} {key}"))
    live_by = datetime.now().astimezone() + timedelta(seconds=dags.LIVE_WITHIN_SECONDS)
    changes = len(to_do.added) + len(to_do.changed) + len(to_do.deleted)
    _say(
        f"{changes} change(s), {to_do.unchanged} file(s) unchanged: live within {dags.LIVE_WITHIN_SECONDS} s, by "
        f"{live_by:%H:%M:%S} (the dag-processor fetches the bucket every {dags.REFRESH_SECONDS} s, then parses "
        "what changed; tasks started after that run the new code)"
    )


@app.command("exec")
@reported
def exec_command(
    component: Annotated[
        str,
        typer.Argument(
            help=f"one of {', '.join(contract.SERVICE_NAMES)}",
            callback=_component(contract.SERVICE_NAMES),
            show_default=False,
        ),
    ],
    command: Annotated[
        list[str] | None,
        typer.Argument(help="command to run, after -- (default: a shell)", metavar="-- COMMAND", show_default=False),
    ] = None,
    profile: Profile = deployment.DEFAULT_PROFILE,
    settings: Settings = None,
    stack: Stack = None,
    region: Region = None,
    aws_profile: AwsProfile = None,
    debug: Debug = False,
) -> None:
    """Open a shell, or run a command, in a running container of a component (ECS Exec).

    Needs AWS's session-manager-plugin on this machine.

    \b
    Examples:
      airflow-ecs exec scheduler                       # a shell
      airflow-ecs exec worker -- celery --app airflow.providers.celery.executors.celery_executor.app inspect ping
      airflow-ecs exec api-server -- python -m deploy_airflow_on_ecs_fargate.health api-server
    """
    plugin = ecs_exec.find_plugin()
    aws = _aws(region, aws_profile)
    ecs = aws.client("ecs")
    deployed = _stack_outputs(aws, profile, settings, stack)
    target = ecs_exec.exec_target(deployed.cluster, ecs_exec.running_task(ecs, deployed, component), component)
    session = ecs_exec.open_session(ecs, target, command or [])
    argv = ecs_exec.plugin_command(
        plugin, session, target, region=aws.region, profile=aws.profile, endpoint_url=ecs.meta.endpoint_url
    )
    _note(f"{component}: task {target.task_id}, container {target.container}")
    # Ctrl-C belongs to the remote shell: the plugin forwards it, this process must not die of it.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = subprocess.call(argv)
    finally:
        signal.signal(signal.SIGINT, previous)
    raise typer.Exit(code)


@app.command("scale", context_settings={"ignore_unknown_options": True})
@reported
def scale_command(
    component: Annotated[
        str | None,
        typer.Argument(
            help=f"one of {', '.join(scale.SCALABLE)}", callback=_component(scale.SCALABLE), show_default=False
        ),
    ] = None,
    count: Annotated[int | None, typer.Argument(help="tasks to run (0 stops it)", show_default=False)] = None,
    at: Annotated[str | None, typer.Option("--at", help="when: HH:MM (next one) or 'YYYY-MM-DD HH:MM'")] = None,
    in_: Annotated[str | None, typer.Option("--in", help="when: after a duration such as 30m or 2h")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="IANA time zone of --at (default: this machine's)")] = None,
    list_: Annotated[bool, typer.Option("--list", help="show every scheduled action")] = False,
    cancel: Annotated[
        str | None, typer.Option("--cancel", help="remove a scheduled action (component/name, as --list shows)")
    ] = None,
    profile: Profile = deployment.DEFAULT_PROFILE,
    settings: Settings = None,
    stack: Stack = None,
    region: Region = None,
    aws_profile: AwsProfile = None,
    debug: Debug = False,
) -> None:
    """Scale a component now or at a time (in your time zone); list or cancel scheduled actions.

    \b
    Examples:
      airflow-ecs scale worker 3                    # now
      airflow-ecs scale api-server 0 --at 19:30     # today (or tomorrow) at 19:30, this machine's time zone
      airflow-ecs scale worker 1 --in 2h
      airflow-ecs scale --list                      # the night schedule and yours
      airflow-ecs scale --cancel worker/airflow-ecs-1-at-20261126T2130
    """
    usage = "give `COMPONENT COUNT [--at TIME | --in DURATION]`, `--list` or `--cancel NAME`"
    if list_ or cancel:
        if (list_ and cancel) or component is not None or count is not None or at or in_:
            raise bad_input(f"--list and --cancel stand alone: {usage}")
    elif component is None or count is None:
        raise bad_input(f"which component, and how many tasks? {usage}")
    if at and in_:
        raise bad_input("--at and --in both say when: give one")
    if count is not None:
        scale.check_count(count)
    zone = times.time_zone(tz)
    now = datetime.now(UTC)
    when = times.parse_at(at, zone, now) if at else (now + times.parse_duration(in_, option="--in")) if in_ else None
    aws = _aws(region, aws_profile)
    deployed = _stack_outputs(aws, profile, settings, stack)
    aas = aws.client("application-autoscaling")
    if list_:
        actions = scale.list_actions(aas, deployed)
        if not actions:
            _say("no scheduled actions")
        width = max((len(action.label) for action in actions), default=0)
        for action in actions:
            origin = "stack" if action.from_stack else "airflow-ecs"
            _say(
                f"{action.label:<{width}}  {action.schedule} {action.time_zone}  -> {action.min_capacity}"
                f" task(s)  ({origin})"
            )
        return
    if cancel:
        removed = scale.cancel(aas, deployed, cancel)
        _say(f"removed {removed.label} ({removed.schedule} {removed.time_zone})")
        if removed.from_stack:
            _say("it belongs to the stack's night schedule: the next `airflow-ecs deploy` puts it back")
        return
    assert component is not None and count is not None
    svc = scale.service(deployed, component)
    sharing = [name for name, service in deployed.services().items() if service == svc.name and name != component]
    if sharing:
        _note(f"note: {component} shares its task with {', '.join(sharing)} (one service): they scale with it")
    ecs = aws.client("ecs")
    if when is None:
        done = scale.scale_now(ecs, aas, svc, count)
        _say(f"{component}: {done.previous} -> {done.count} task(s)")
        if done.schedules:
            _say(f"its scheduled actions change it again: {', '.join(done.schedules)} (`airflow-ecs scale --list`)")
        return
    local_when = when.astimezone(zone)
    action = scale.schedule(ecs, aas, svc, count, local_when, str(zone))
    _say(f"{component}: {count} task(s) at {local_when:%Y-%m-%d %H:%M} {zone} (scheduled action {action.label})")


@app.command("status")
@reported
def status_command(
    profile: Profile = deployment.DEFAULT_PROFILE,
    settings: Settings = None,
    stack: Stack = None,
    region: Region = None,
    aws_profile: AwsProfile = None,
    debug: Debug = False,
) -> None:
    """Show each service's tasks, health and rollout, the queue, alarms in ALARM and the UI URL; exit 1 unless all is settled.

    \b
    Examples:
      airflow-ecs status
      airflow-ecs status --profile prod --region eu-west-1
    """
    aws = _aws(region, aws_profile)
    deployed = _stack_outputs(aws, profile, settings, stack)
    found = status.collect(aws.client("ecs"), aws.client("sqs"), aws.client("cloudwatch"), deployed)
    _say(f"{found.stack_name} in {found.region}: {found.stack_status}, image {found.image_tag or '?'}")
    _say(f"UI: {found.ui_url}")
    width = max(len(service.component) for service in found.services)
    _say(f"  {'component':<{width}}  desired running pending  health            rollout")
    for service in found.services:
        health = ", ".join(f"{count} {state.lower()}" for state, count in sorted(service.health.items())) or "-"
        rollout = service.rollout.lower() or "-"
        if service.deployments > 1:
            rollout += f" ({service.deployments} deployments: rolling)"
        if service.rollout not in ("COMPLETED", "") and service.rollout_reason:
            rollout += f": {service.rollout_reason}"
        _say(
            f"  {service.component:<{width}}  {service.desired:>7} {service.running:>7} {service.pending:>7}"
            f"  {health:<16}  {rollout} (revision {service.revision})"
        )
    queue = found.queue
    age = f"{queue.oldest_age_seconds:.0f} s" if queue.oldest_age_seconds is not None else "unknown (no recent metric)"
    _say(f"queue: {queue.waiting} waiting, {queue.in_flight} in flight, oldest message {age}")
    if found.alarms is not None:
        _say(f"alarms: {len(found.alarms)} in ALARM" if found.alarms else "alarms: none in ALARM")
        for alarm in found.alarms:
            since = f" since {alarm.since.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if alarm.since else ""
            paused = " (paused for the night stop)" if not alarm.actions_enabled else ""
            _say(f"  {alarm.name}{since}{paused}: {alarm.check_first}")
    if not found.healthy:
        raise typer.Exit(1)


@app.command("logs")
@reported
def logs_command(
    component: Annotated[
        str,
        typer.Argument(
            help=f"one of {', '.join(logs.LOG_SOURCES)} (one-off tasks and migrations)",
            callback=_component(logs.LOG_SOURCES),
            show_default=False,
        ),
    ],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines (Ctrl-C stops)")] = False,
    since: Annotated[
        str, typer.Option("--since", help="from how long ago (10m, 2h) or a time (2026-11-26T14:00)")
    ] = "10m",
    profile: Profile = deployment.DEFAULT_PROFILE,
    settings: Settings = None,
    stack: Stack = None,
    region: Region = None,
    aws_profile: AwsProfile = None,
    debug: Debug = False,
) -> None:
    """Print a component's container logs from CloudWatch, optionally following them.

    \b
    Examples:
      airflow-ecs logs scheduler
      airflow-ecs logs worker --follow --since 1h
      airflow-ecs logs standalone --since 2026-11-26T14:00   # one-off tasks and migrations
    """
    start = times.since(since, datetime.now().astimezone())
    aws = _aws(region, aws_profile)
    group = logs.log_group(_stack_outputs(aws, profile, settings, stack), component)
    client = aws.client("logs")

    def show(event: logs.LogEvent) -> None:
        _say(f"{event.time():%Y-%m-%d %H:%M:%S} {event.task}  {event.message}")

    if not follow:
        for event in logs.events(client, group, times.epoch_millis(start)):
            show(event)
        return
    try:
        logs.follow(client, group, times.epoch_millis(start), show)
    except KeyboardInterrupt:
        return


@app.command("admin-password")
@reported
def admin_password_command(
    profile: Profile = deployment.DEFAULT_PROFILE,
    settings: Settings = None,
    stack: Stack = None,
    region: Region = None,
    aws_profile: AwsProfile = None,
    debug: Debug = False,
) -> None:
    """Print the Airflow admin password (the only place it is printed); the login name goes to stderr.

    \b
    Examples:
      airflow-ecs admin-password
      airflow-ecs admin-password --profile prod | pbcopy
    """
    aws = _aws(region, aws_profile)
    login = admin_password.read(
        aws.client("ecs"), aws.client("secretsmanager"), _stack_outputs(aws, profile, settings, stack)
    )
    _note(f"user {login.username}, password from {login.secret_arn}:")
    _say(login.password)


@app.command("cost")
@reported
def cost_command(
    profile: Profile = deployment.DEFAULT_PROFILE,
    settings: Settings = None,
    hours_per_month: Annotated[
        float | None,
        typer.Option("--hours-per-month", help="hours a month the hourly prices apply (default: the table's, 730)"),
    ] = None,
    template: Annotated[
        list[Path] | None,
        typer.Option("--template", help="price these CloudFormation templates instead of synthesizing the profile"),
    ] = None,
    debug: Debug = False,
) -> None:
    """Print a deployment's idle monthly cost, line by line, beside MWAA's environment classes.

    Synthesizes the profile offline (no AWS credentials) and prices every resource of its
    templates with the price table kept in this repository (airflow_ecs_cli/prices/), around the
    clock and, when the settings stop the control plane at night, with that schedule. Usage
    (requests, data, busy workers) is listed with its unit price, not guessed.

    \b
    Examples:
      airflow-ecs cost                                  # dev
      airflow-ecs cost --profile prod --settings certificate_arn=arn:aws:acm:us-east-1:123456789012:certificate/example
      airflow-ecs cost --settings 'scheduled_scaling=none cpu_architecture=X86_64'
      airflow-ecs cost --template infrastructure/cdk.out/airflow-dev.template.json --hours-per-month 200
    """
    from airflow_ecs_cli import cost
    from airflow_ecs_cli.prices import PriceError, price_table

    if hours_per_month is not None:
        cost.check_hours(hours_per_month)
    if template:
        templates = [cost.read_template(path) for path in template]
        name, region = ", ".join(path.stem.removesuffix(".template") for path in template), "us-east-1"
    else:
        target = deployment.load(profile, deployment.parse_overrides(settings or []))
        name, region = f"{target.stack_name} (profile {profile})", target.settings.region
    try:
        prices = price_table(region)
    except PriceError as error:
        raise bad_input(str(error)) from None
    if not template:
        _note(f"synthesizing {target.stack_name} offline ...")
        templates = cost.deployment_templates(target)
    _say(cost.report(cost.estimate(name, templates, prices, hours_per_month)))


autoscaling_app = typer.Typer(
    help="Worker autoscaling: replay task traces through the scaling policy.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(autoscaling_app, name="autoscaling")


@autoscaling_app.command("simulate")
@reported
def autoscaling_simulate(
    trace: Annotated[
        list[Path] | None,
        typer.Option(
            "--trace", help="CSV of arrival_seconds,duration_seconds per task (default: the three shipped traces)"
        ),
    ] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", help="ours, upstream (5 tasks/worker, target tracking) or fixed (default: all three)"),
    ] = None,
    fixed_workers: Annotated[int, typer.Option("--fixed-workers", help="worker count of the fixed policy")] = 2,
    plot_folder: Annotated[Path | None, typer.Option("--plot", help="folder to write one PNG per trace into")] = None,
    profile: Profile = deployment.DEFAULT_PROFILE,
    settings: Settings = None,
    debug: Debug = False,
) -> None:
    """Replay task arrivals through a scaling policy and compare: queue wait, worker-hours, cost.

    The deployment's settings give the policy (idle and maximum worker count, scale-in delay),
    the worker concurrency and the worker size priced on-demand (price table of the region).

    \b
    Examples:
      airflow-ecs autoscaling simulate --profile prod --plot docs/autoscaling
      airflow-ecs autoscaling simulate --trace my-day.csv --policy ours --policy fixed --fixed-workers 3
    """
    from airflow_ecs_cli.autoscaling import report
    from airflow_ecs_cli.autoscaling.trace import SHIPPED_TRACES, TraceError, read_trace
    from airflow_ecs_cli.prices import PriceError, price_table

    names = tuple(policy or report.POLICY_NAMES)
    unknown = [name for name in names if name not in report.POLICY_NAMES]
    if unknown:
        raise bad_input(f"unknown policy {unknown[0]!r}: expected one of {', '.join(report.POLICY_NAMES)}")
    if fixed_workers < 1:
        raise bad_input(f"--fixed-workers: {fixed_workers} is not a worker count: give 1 or more")
    deployed = deployment.load(profile, deployment.parse_overrides(settings or []))
    paths = trace or sorted(SHIPPED_TRACES.glob("*.csv"))
    try:
        traces = {path.stem: read_trace(path) for path in paths}
        prices = price_table(deployed.settings.region)
    except (TraceError, PriceError) as error:
        raise bad_input(str(error)) from None
    comparisons, plots = report.run(deployed.settings, prices, traces, names, fixed_workers, plot_folder)
    worker = deployed.settings.worker
    _say(
        f"profile {profile}: workers {worker.count}-{deployed.settings.worker_max_count}, "
        f"{worker.cpu / 1024:g} vCPU / {worker.memory_mib / 1024:g} GB {deployed.settings.cpu_architecture}, "
        f"{deployed.settings.worker_concurrency} slots each; on-demand prices of {prices.region} ({prices.gathered})"
    )
    _say(report.table(comparisons))
    for path in plots:
        _say(f"wrote {path}")


@local_app.command("up")
@reported
def local_up(debug: Debug = False) -> None:
    """Start the local stack (PostgreSQL, SQS, the five components) and wait until healthy.

    \b
    Example:
      airflow-ecs local up        # the same as `make up`
    """
    raise typer.Exit(local.lifecycle("up"))


@local_app.command("down")
@reported
def local_down(debug: Debug = False) -> None:
    """Stop the local stack; running tasks finish first, queued work is kept.

    \b
    Example:
      airflow-ecs local down      # the same as `make down`
    """
    raise typer.Exit(local.lifecycle("down"))


@local_app.command("status")
@reported
def local_status(debug: Debug = False) -> None:
    """Show each local part, its pid and health; exit 1 if anything is unhealthy.

    \b
    Example:
      airflow-ecs local status    # the same as `make status`
    """
    raise typer.Exit(local.lifecycle("status"))


@local_app.command("logs")
@reported
def local_logs(
    component: Annotated[
        str | None,
        typer.Argument(help="one component (default: all)", show_default=False),
    ] = None,
    debug: Debug = False,
) -> None:
    """Follow the local stack's logs.

    \b
    Examples:
      airflow-ecs local logs
      airflow-ecs local logs worker   # the same as `make logs COMPONENT=worker`
    """
    raise typer.Exit(local.lifecycle("logs", component))


@local_app.command("run")
@reported
def local_run(
    airflow_args: Annotated[
        list[str] | None,
        typer.Argument(
            help="the Airflow command and its arguments, after --", metavar="-- AIRFLOW_ARGS", show_default=False
        ),
    ] = None,
    debug: Debug = False,
) -> None:
    """Run any Airflow CLI command with the running local stack's configuration; exit with its code.

    \b
    Examples:
      airflow-ecs local run -- dags list
      airflow-ecs local run -- dags trigger example_bash_operator --conf '{"note": "two words"}'
    """
    raise typer.Exit(local.run(airflow_args or []))


def main() -> None:
    """The `airflow-ecs` console command (exits with the command's code)."""
    app(prog_name="airflow-ecs")
