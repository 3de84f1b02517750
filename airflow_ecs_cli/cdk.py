"""The CDK CLI pinned in infrastructure/package-lock.json, with the app's context on every call.

Settings reach the app as `-c airflow:<name>=<value>` (app.py reads them), the account and region
of the caller's credentials included, so the command line alone says what is deployed where.
Parameters are always stack-scoped (`<stack>:ImageTag=...`): an unscoped one is applied to every
selected stack and CloudFormation rejects it for a stack without it (aws/aws-cdk#12759).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from airflow_ecs_cli.commands import Command
from airflow_ecs_cli.deployment import INFRASTRUCTURE, Deployment
from airflow_ecs_cli.errors import OperatorError

CDK_CLI = INFRASTRUCTURE / "node_modules" / ".bin" / "cdk"
CONTEXT_PREFIX = "airflow:"
# app.py also reads these; the command line's context must be the only source.
APP_ENVIRONMENT = ("AIRFLOW_ECS_PROFILE", "AIRFLOW_ECS_SETTINGS")
# jsii runs on the machine's Node 20 and would print an end-of-life banner on every call (as make/infrastructure.mk).
QUIET_NODE = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}


def ensure_cli() -> None:
    if not CDK_CLI.exists():
        raise OperatorError(
            "the CDK CLI is not installed: run `make cdk-cli` (the version pinned in infrastructure/package-lock.json)"
        )


@dataclass(frozen=True)
class CdkApp:
    deployment: Deployment
    account: str
    region: str
    aws_profile: str | None = None

    def context_arguments(self) -> list[str]:
        context = {
            "profile": self.deployment.profile,
            **self.deployment.overrides,
            "account": self.account,
            "region": self.region,
        }
        arguments: list[str] = []
        for name, value in context.items():
            arguments += ["-c", f"{CONTEXT_PREFIX}{name}={value}"]
        return arguments

    def environment(self) -> dict[str, str]:
        environment = {**QUIET_NODE, "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.aws_profile:
            environment["AWS_PROFILE"] = self.aws_profile
        return environment

    def command(self, action: str, *arguments: str) -> Command:
        return Command(
            argv=(str(CDK_CLI), action, "--no-notices", *self.context_arguments(), *arguments),
            cwd=INFRASTRUCTURE,
            env=self.environment(),
            unset=APP_ENVIRONMENT,
        )

    def bootstrap(self) -> Command:
        return self.command("bootstrap", f"aws://{self.account}/{self.region}")

    def deploy(self, stack: str, *, parameters: Mapping[str, str] | None = None, approve: bool = False) -> Command:
        # --exclusively: only this stack (the registry, a dependency, is deployed on its own first).
        arguments = [stack, "--exclusively"]
        if approve:
            arguments += ["--require-approval", "never"]
        for name, value in (parameters or {}).items():
            arguments += ["--parameters", f"{stack}:{name}={value}"]
        return self.command("deploy", *arguments)

    def destroy(self, stack: str) -> Command:
        # --force: the operator confirmed already, by typing the stack's name.
        return self.command("destroy", stack, "--exclusively", "--force")
