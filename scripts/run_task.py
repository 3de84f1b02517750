"""The seed's scripts/run_task.py command line, on `airflow-ecs run-task` (airflow_ecs_cli).

    python3 scripts/run_task.py --public-subnet-ids subnet-aaa subnet-bbb --security-group sg-123 --command 'dags list'

Same flags as the seed (`--profile` is the AWS profile there, `--aws-profile` of airflow-ecs),
`--public-subnet-ids` taking several ids. What the flags leave out (cluster, task definition,
container) comes from the deployment's stack outputs (`--stack`, or AIRFLOW_ECS_PROFILE's
stack). Unlike the seed it waits for the task, prints its log and exits with its exit code; the
command string is split as a shell would (quotes keep spaces), not on every space.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run as a file (`python3 scripts/run_task.py`): the project's packages are beside this folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_ecs_cli.cli import app
from airflow_ecs_cli.run_task import CAPACITY_PROVIDERS


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cluster", help="ECS cluster (default: the stack's)")
    parser.add_argument("--task-definition", help="task definition (default: the stack's standalone one)")
    parser.add_argument("--container-name", help="container of the task definition")
    parser.add_argument("--profile", help="AWS profile of the credentials (the seed's meaning)")
    parser.add_argument("--public-subnet-ids", nargs="+", default=[], help="subnets; the task gets a public IP")
    parser.add_argument("--security-group", help="security group of the task")
    parser.add_argument("--command", required=True, help="the Airflow command as one string, e.g. 'dags list'")
    parser.add_argument("--cpu", type=int, help="Fargate CPU units for this task")
    parser.add_argument("--memory", type=int, help="Fargate memory in MiB for this task")
    parser.add_argument("--capacity-provider", choices=CAPACITY_PROVIDERS, default=CAPACITY_PROVIDERS[0])
    parser.add_argument("--stack", help="the Airflow stack whose outputs fill in what is not given")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION or the profile's)")
    parser.add_argument("--no-wait", action="store_true", help="print the task ARN instead of following it")
    return parser.parse_args(argv)


def run_task_arguments(args: argparse.Namespace) -> list[str]:
    """The same request as `airflow-ecs run-task` arguments."""
    argv = ["run-task", "--command", args.command, "--capacity-provider", args.capacity_provider]
    named = {
        "--cluster": args.cluster,
        "--task-definition": args.task_definition,
        "--container-name": args.container_name,
        "--security-group": args.security_group,
        "--cpu": args.cpu,
        "--memory": args.memory,
        "--aws-profile": args.profile,
        "--stack": args.stack,
        "--region": args.region,
    }
    for option, value in named.items():
        if value is not None:
            argv += [option, str(value)]
    for subnet in args.public_subnet_ids:
        argv += ["--public-subnet-ids", subnet]
    if args.no_wait:
        argv.append("--no-wait")
    return argv


def main(argv: list[str] | None = None) -> int:
    try:
        app(run_task_arguments(parse_arguments(argv)), prog_name="scripts/run_task.py")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
