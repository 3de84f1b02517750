"""Stand-ins for the external tools of `deploy` and `destroy`: the CDK CLI, the image builder and
its registry login. Each records the exact command it was given and does to moto what the real
tool would do to AWS (a stack deploy creates the stack, a push puts the image in ECR, ...), so the
steps after it see the result, as they would on AWS."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from airflow_ecs_cli.commands import Command
from tests.cli import standin

# Options of the CDK CLI that take a value.
CDK_VALUED = ("-c", "--context", "--parameters", "--require-approval", "--output")


def cdk_arguments(argv: tuple[str, ...]) -> tuple[str, list[str], dict[str, list[str]]]:
    """(action, positional arguments, {option: values}) of a CDK CLI command line."""
    action, rest = argv[1], list(argv[2:])
    positional, options = [], {}
    while rest:
        word = rest.pop(0)
        if word in CDK_VALUED:
            options.setdefault(word, []).append(rest.pop(0))
        elif word.startswith("-"):
            options.setdefault(word, [])
        else:
            positional.append(word)
    return action, positional, options


@dataclass
class FakeTools:
    clients: standin.Clients
    # A command line containing the key fails once with that exit code.
    fail_once: dict[str, int] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return [command.shown() for command in self.commands]

    def __call__(self, command: Command) -> int:
        self.commands.append(command)
        for fragment, code in list(self.fail_once.items()):
            if fragment in command.shown():
                del self.fail_once[fragment]
                return code
        tool = Path(command.argv[0]).name
        if tool == "cdk":
            return self._cdk(command)
        if tool in ("docker", "podman"):
            return self._image(command)
        raise AssertionError(f"unexpected command {command.shown()}")

    def _cdk(self, command: Command) -> int:
        action, stacks, options = cdk_arguments(command.argv)
        cloudformation = self.clients.cloudformation
        if action == "bootstrap":
            standin.seed_bootstrap(self.clients)
            return 0
        (stack,) = stacks
        if action == "destroy":
            cloudformation.delete_stack(StackName=stack)
            return 0
        assert action == "deploy", command.shown()
        if stack.endswith("-registry"):
            if not _exists(cloudformation, stack):
                standin.seed_registry(self.clients, stack.removesuffix("-registry"))
            return 0
        # CloudFormation refuses a parameter the template does not declare; only ImageTag exists here.
        parameters = dict(value.split("=", 1) for value in options.get("--parameters", []))
        assert set(parameters) == {f"{stack}:ImageTag"}, parameters
        tag = parameters[f"{stack}:ImageTag"]
        registry = cloudformation.describe_stacks(StackName=f"{stack}-registry")["Stacks"][0]["Outputs"][0][
            "OutputValue"
        ]
        if not _exists(cloudformation, stack):
            deployed = standin.seed_application(self.clients, stack=stack, image_tag=tag, repository_uri=registry)
            standalone = deployed.standalone_arn
        else:
            try:
                cloudformation.update_stack(
                    StackName=stack,
                    UsePreviousTemplate=True,
                    Parameters=[{"ParameterKey": "ImageTag", "ParameterValue": tag}],
                )
            except cloudformation.exceptions.ClientError as error:
                # The CDK CLI reports "no changes" and succeeds; nothing new to migrate either.
                if "No updates are to be performed" in str(error):
                    return 0
                raise
            outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
            standalone = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "StandaloneTaskDefinitionArn")
        self._migrate(stack, standalone)
        return 0

    def _migrate(self, stack: str, task_definition: str) -> None:
        """The custom resource: the standalone task with `init`, waited for until it stopped."""
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in self.clients.cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
        }
        task = self.clients.ecs.run_task(
            cluster=stack,
            taskDefinition=task_definition,
            launchType="FARGATE",
            startedBy=standin.MIGRATION_STARTED_BY,
            overrides={"containerOverrides": [{"name": "standalone", "command": ["init"]}]},
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": outputs["TaskSubnets"].split(","),
                    "securityGroups": [outputs["StandaloneSecurityGroup"]],
                }
            },
        )["tasks"][0]
        for _ in range(4):  # moto: one state per describe, RUNNING ... STOPPED
            self.clients.ecs.describe_tasks(cluster=stack, tasks=[task["taskArn"]])

    def _image(self, command: Command) -> int:
        argv = command.argv
        if "login" in argv:
            assert command.stdin, "the registry password goes to standard input"
            return 0
        pushed = None
        if argv[1] == "push":
            pushed = argv[2]
        elif argv[1:3] == ("manifest", "push"):
            pushed = argv[4]
        elif "--push" in argv:
            pushed = argv[argv.index("--tag") + 1]
        if pushed:
            repository_uri, tag = pushed.rsplit(":", 1)
            standin.push_image(self.clients, repository_uri, tag)
        return 0


def _exists(cloudformation, stack: str) -> bool:
    try:
        cloudformation.describe_stacks(StackName=stack)
    except cloudformation.exceptions.ClientError:
        return False
    return True


def git_repository(path: Path) -> Path:
    """A checkout with one commit, as the deploy tags images from."""
    path.mkdir(parents=True, exist_ok=True)

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *arguments],
            cwd=path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    git("init", "--quiet")
    (path / "README.md").write_text("airflow\n")
    git("add", "README.md")
    git("commit", "--quiet", "-m", "first")
    return path


def short_sha(path: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=path, check=True, capture_output=True, text=True
    ).stdout.strip()
