"""`airflow-ecs run-task` against moto's ECS and CloudWatch Logs, seeded as a deployed stack.

moto reports exit code 0 for every container and cannot fail to start a task: those outcomes
come from a wrapper around the real describe call (`run_task.describe_task`, the seam), which
changes only the fields moto cannot produce.
"""

from __future__ import annotations

import time

import pytest

from airflow_ecs_cli import run_task
from airflow_ecs_cli.errors import OperatorError
from deploy_airflow_on_ecs_fargate import contract
from tests.cli import standin


def started_tasks(clients, cluster=standin.STACK) -> list[dict]:
    arns = clients.ecs.list_tasks(cluster=cluster, startedBy=run_task.STARTED_BY)["taskArns"]
    return clients.ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def container_command(task: dict) -> list[str]:
    return task["overrides"]["containerOverrides"][0]["command"]


def rewrite_stopped(monkeypatch, change):
    """The seam: the real describe call, with `change` applied to a STOPPED answer."""
    real = run_task.describe_task

    def describe(ecs, cluster, task_arn):
        task = real(ecs, cluster, task_arn)
        if task["lastStatus"] == "STOPPED":
            change(task)
        return task

    monkeypatch.setattr(run_task, "describe_task", describe)


def test_dags_list_runs_on_the_standalone_task_definition_with_the_stack_outputs(cli, deployed, clients):
    result = cli("run-task", "--", "dags", "list")
    assert result.exit_code == 0, result.output
    (task,) = started_tasks(clients)
    # The runtime's entry point runs the contract's `airflow` component with the arguments.
    assert run_task.AIRFLOW_COMPONENT in contract.COMPONENT_NAMES
    assert container_command(task) == ["airflow", "dags", "list"]
    assert task["taskDefinitionArn"] == deployed.standalone_arn
    assert task["overrides"]["containerOverrides"][0]["name"] == standin.STANDALONE_CONTAINER
    assert task["capacityProviderName"] == "FARGATE"
    network = {detail["name"]: detail["value"] for detail in task["attachments"][0]["details"]}
    assert network["subnetId"] in deployed.subnets
    short = task["taskArn"].rsplit("/", 1)[-1]
    assert f"started task {short} on FARGATE in cluster airflow-dev: airflow dags list" in result.stderr
    assert f"task {short}: STOPPED" in result.stderr
    assert result.stderr.rstrip().endswith(f"task {short} exited with 0")


def test_arguments_with_quotes_and_spaces_arrive_intact(cli, deployed, clients):
    conf = '{"note": "two words", "quote": "it\'s"}'
    result = cli("run-task", "--", "dags", "trigger", "example_bash_operator", "--conf", conf)
    assert result.exit_code == 0, result.output
    (task,) = started_tasks(clients)
    assert container_command(task) == ["airflow", "dags", "trigger", "example_bash_operator", "--conf", conf]


def test_the_seed_command_string_is_split_as_a_shell_would(cli, deployed, clients):
    result = cli("run-task", "--command", "users create --firstname \"Ada L.\" --lastname 'O Brien' --role Admin")
    assert result.exit_code == 0, result.output
    (task,) = started_tasks(clients)
    assert container_command(task) == [
        *("airflow", "users", "create", "--firstname", "Ada L.", "--lastname", "O Brien", "--role", "Admin")
    ]


def test_log_lines_are_printed_as_they_arrive_in_order_and_once(cli, deployed, clients, monkeypatch):
    real = run_task.describe_task
    polls = {"count": 0}

    def describe(ecs, cluster, task_arn):
        # Each poll, the container writes one more line to its awslogs stream.
        task = real(ecs, cluster, task_arn)
        polls["count"] += 1
        stream = f"{standin.STANDALONE_CONTAINER}/{standin.STANDALONE_CONTAINER}/{task_arn.rsplit('/', 1)[-1]}"
        group = deployed.log_groups[standin.STANDALONE_CONTAINER]
        if polls["count"] == 1:
            clients.logs.create_log_stream(logGroupName=group, logStreamName=stream)
        clients.logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": f"line {polls['count']}"}],
        )
        return task

    monkeypatch.setattr(run_task, "describe_task", describe)
    result = cli("run-task", "--", "dags", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"line {n}" for n in range(1, polls["count"] + 1)]
    assert polls["count"] >= 4  # moto moves a task one state per describe: RUNNING ... STOPPED


def test_a_failing_command_exits_with_the_container_exit_code(cli, deployed, monkeypatch):
    def exit_3(task):
        task["containers"][0]["exitCode"] = 3
        task["stoppedReason"] = "Essential container in task exited"

    rewrite_stopped(monkeypatch, exit_3)
    result = cli("run-task", "--", "dags", "trigger", "no_such_dag")
    assert result.exit_code == 3
    assert result.stderr.rstrip().endswith("exited with 3")


def test_a_task_that_never_starts_exits_125_with_ecs_reason(cli, deployed, monkeypatch):
    def never_pulled(task):
        del task["containers"][0]["exitCode"]
        task["containers"][0]["reason"] = "CannotPullContainerError: airflow-dev/airflow:0123456789ab: not found"
        task["stopCode"] = "TaskFailedToStart"
        task["stoppedReason"] = "CannotPullContainerError: pull image manifest has been retried 5 time(s)"

    rewrite_stopped(monkeypatch, never_pulled)
    result = cli("run-task", "--", "dags", "list")
    assert result.exit_code == run_task.NEVER_STARTED == 125
    (last,) = result.stderr.strip().splitlines()[-1:]
    assert last.startswith("error: task ") and "never ran its command: CannotPullContainerError: pull image" in last
    assert last.endswith("(TaskFailedToStart)")
    assert "Traceback" not in result.output


def test_no_wait_prints_the_task_arn_and_returns(cli, deployed, clients):
    result = cli("run-task", "--no-wait", "--", "dags", "reserialize")
    assert result.exit_code == 0, result.output
    (task,) = started_tasks(clients)
    assert result.stdout == f"{task['taskArn']}\n"
    # Not followed: no status line, and the task was left to run.
    assert result.stderr == ""
    assert task["desiredStatus"] == "RUNNING"


def test_the_seed_flags_name_everything_and_no_stack_is_looked_up(cli, deployed, clients):
    clients.cloudformation.delete_stack(StackName=deployed.stack)
    result = cli(
        "run-task",
        *("--cluster", deployed.cluster, "--task-definition", deployed.standalone_family),
        *("--container-name", standin.STANDALONE_CONTAINER),
        *("--public-subnet-ids", deployed.subnets[0], deployed.subnets[1]),
        *("--security-group", deployed.security_group, "--command", "db check"),
    )
    assert result.exit_code == 0, result.output
    (task,) = started_tasks(clients)
    assert container_command(task) == ["airflow", "db", "check"]
    assert task["taskDefinitionArn"] == deployed.standalone_arn


def test_cpu_memory_and_spot_capacity(cli, deployed, clients):
    result = cli(
        "run-task", "--cpu", "1024", "--memory", "4096", "--capacity-provider", "FARGATE_SPOT", "--", "db", "check"
    )
    assert result.exit_code == 0, result.output
    (task,) = started_tasks(clients)
    assert task["capacityProviderName"] == "FARGATE_SPOT"
    assert (task["overrides"]["cpu"], task["overrides"]["memory"]) == ("1024", "4096")
    # The container's hard memory limit follows, or the task's extra memory would be unusable.
    assert task["overrides"]["containerOverrides"][0]["memory"] == 4096


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--cpu", "1000", "--memory", "2048", "--", "db", "check"], "--cpu: 1000 is not a Fargate size"),
        (["--cpu", "256", "--memory", "4096", "--", "db", "check"], "--memory: 4096 MiB does not go with --cpu 256"),
        (["--cpu", "1024", "--", "db", "check"], "--cpu and --memory go together"),
        (["--capacity-provider", "EC2", "--", "db", "check"], "--capacity-provider: 'EC2' is not one of"),
        ([], "no Airflow command: give one after --"),
        (["--command", "users create --firstname 'Ada"], "--command: No closing quotation"),
        (["--command", "dags list", "--", "version"], "give the Airflow command after -- or with --command, not both"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_starts_nothing(cli, deployed, clients, arguments, message):
    result = cli("run-task", *arguments)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"error: {message}")
    assert started_tasks(clients) == []


def test_ctrl_c_asks_whether_to_stop_the_remote_task(cli, deployed, clients, monkeypatch):
    def interrupted(ecs, cluster, task_arn):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_task, "describe_task", interrupted)
    result = cli("run-task", "--", "dags", "list", input="y\n")
    assert result.exit_code == 130
    (task,) = started_tasks(clients)
    assert task["desiredStatus"] == "STOPPED"
    assert task["stoppedReason"] == "interrupted by the operator (airflow-ecs run-task)"


def test_ctrl_c_without_a_yes_leaves_the_task_running_and_says_how_to_stop_it(cli, deployed, clients, monkeypatch):
    monkeypatch.setattr(run_task, "describe_task", lambda ecs, cluster, arn: (_ for _ in ()).throw(KeyboardInterrupt))
    result = cli("run-task", "--", "dags", "list", input="\n")
    assert result.exit_code == 130
    (task,) = started_tasks(clients)
    assert task["desiredStatus"] == "RUNNING"
    assert f"aws ecs stop-task --cluster airflow-dev --task {task['taskArn']}" in result.stderr


def test_a_task_stuck_before_running_is_stopped_after_the_start_timeout(deployed, clients):
    spec = run_task.TaskSpec(
        cluster=deployed.cluster,
        task_definition=deployed.standalone_family,
        container=standin.STANDALONE_CONTAINER,
        subnets=tuple(deployed.subnets),
        security_groups=(deployed.security_group,),
        assign_public_ip=True,
        command=("airflow", "version"),
    )
    task_arn = run_task.start(clients.ecs, spec)
    seconds = iter(range(0, 10_000, 100))
    statuses: list[str] = []
    with pytest.raises(OperatorError) as failure:
        run_task.wait(
            clients.ecs,
            clients.logs,
            spec,
            task_arn,
            on_status=statuses.append,
            on_line=lambda line: None,
            # A task ECS keeps in PROVISIONING (no route to ECR, no ENI): what moto never does.
            describe=lambda arn: {"taskArn": arn, "lastStatus": "PROVISIONING", "containers": []},
            sleep=lambda _: None,
            clock=lambda: float(next(seconds)),
            start_timeout=600,
        )
    assert failure.value.exit_code == run_task.NEVER_STARTED
    assert "did not start within 600 s (still PROVISIONING): stopped it" in str(failure.value)
    assert statuses == ["PROVISIONING"]
    (task,) = started_tasks(clients)
    assert task["desiredStatus"] == "STOPPED"


def test_run_task_refused_by_ecs_is_one_line_with_the_reason():
    class Refusing:
        def run_task(self, **_):
            return {
                "tasks": [],
                "failures": [{"arn": "arn:capacity", "reason": "Capacity is unavailable at this time"}],
            }

    spec = run_task.TaskSpec("c", "td", "standalone", ("subnet-1",), ("sg-1",), True, ("airflow", "version"))
    with pytest.raises(
        OperatorError, match=r"ECS did not start the task: Capacity is unavailable at this time \(arn:capacity\)$"
    ):
        run_task.start(Refusing(), spec)
    spot = run_task.TaskSpec(**{**spec.__dict__, "capacity_provider": "FARGATE_SPOT"})
    with pytest.raises(OperatorError, match=r"try --capacity-provider FARGATE\)$"):
        run_task.start(Refusing(), spot)


def test_db_clean_runs_as_its_schedule_runs_it_with_extra_arguments_its_own(cli, deployed, clients):
    result = cli("run-task", "--component", "db-clean", "--", "--dry-run")
    assert result.exit_code == 0, result.output
    (task,) = started_tasks(clients)
    # The schedule's command (infrastructure/airflow_ecs/db_clean.py), plus --dry-run for db clean.
    assert container_command(task) == ["db-clean", "--dry-run"]
    assert task["taskDefinitionArn"] == deployed.standalone_arn


def test_an_unknown_component_or_one_with_command_is_refused_before_anything_starts(cli, deployed, clients):
    unknown = cli("run-task", "--component", "scheduler")
    assert unknown.exit_code == 2
    assert unknown.stderr == "error: --component: 'scheduler' is not one of migrate, create-admin, init, db-clean\n"
    both = cli("run-task", "--component", "db-clean", "--command", "dags list")
    assert both.exit_code == 2
    assert both.stderr == "error: give --component or --command, not both\n"
    assert started_tasks(clients) == []
