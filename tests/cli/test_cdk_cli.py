"""The deploy's own CDK CLI command line, run with the pinned CDK CLI and no AWS account.

The CLI parses it, synthesizes the app with its context and selects the stack, then stops where
AWS credentials are needed. The templates it wrote show what the deploy relies on: the outputs
the other commands read, the ImageTag parameter on the Airflow stack only (so an unscoped
`--parameters ImageTag=...` with `--all`, what `make deploy` passed, is refused by CloudFormation
for the registry stack: aws/aws-cdk#12759), and the tag pattern.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from airflow_ecs_cli import cdk, deployment, image, outputs
from deploy_airflow_on_ecs_fargate import contract
from tests.cli.fake_tools import cdk_arguments

TAG = "0123456789ab"
# What make/infrastructure.mk's deploy target ran before this CLI (the registry stack got ImageTag too).
OLD_MAKE_DEPLOY = ("cdk", "deploy", "--no-notices", "--all", "--parameters", f"ImageTag={TAG}")


def stacks_given_a_parameter_they_lack(argv: tuple[str, ...], templates: dict[str, dict]) -> list[str]:
    """The CDK CLI's rule: `STACK:NAME=value` goes to that stack, `NAME=value` to every selected stack;
    CloudFormation refuses a parameter its template does not declare."""
    _, stacks, options = cdk_arguments(argv)
    selected = list(templates) if "--all" in options else stacks
    refused = []
    for value in options.get("--parameters", []):
        stack, _, name = value.split("=", 1)[0].rpartition(":")
        for target in [stack] if stack else selected:
            if target not in selected or name not in templates[target].get("Parameters", {}):
                refused.append(target)
    return refused


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path, cdk.CdkApp]:
    if not cdk.CDK_CLI.exists():
        pytest.fail("the pinned CDK CLI is not installed: `make cdk-cli` (make test installs it)")
    out = tmp_path_factory.mktemp("cdk.out")
    app = cdk.CdkApp(deployment.load("dev", {}), "123456789012", "eu-west-1")
    command = app.deploy("airflow-dev", parameters={"ImageTag": TAG}, approve=True)
    home = tmp_path_factory.mktemp("home")
    environment = {
        **{k: v for k, v in command.environment().items() if not k.startswith("AWS_") or k in command.env},
        # No account: nothing of this machine's AWS set-up, no instance metadata.
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "PATH": os.environ["PATH"],
    }
    result = subprocess.run(
        [*command.argv, "--output", str(out)],
        cwd=command.cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result, out, app


def templates(out: Path) -> dict[str, dict]:
    return {
        path.name.removesuffix(".template.json"): json.loads(path.read_text()) for path in out.glob("*.template.json")
    }


def test_the_pinned_cdk_cli_accepts_the_deploy_command_and_stops_only_for_credentials(synthesized):
    result, out, _ = synthesized
    said = result.stdout + result.stderr
    assert result.returncode != 0
    assert "no credentials have been configured" in said, said[-3000:]
    assert "Unknown option" not in said and "specify which stacks" not in said
    assert set(templates(out)) == {"airflow-dev", "airflow-dev-registry"}


def test_the_deploys_parameters_fit_the_templates_and_the_old_make_deploy_did_not(synthesized):
    _, out, app = synthesized
    found = templates(out)
    registry = app.deploy("airflow-dev-registry")
    airflow = app.deploy("airflow-dev", parameters={"ImageTag": TAG})
    assert stacks_given_a_parameter_they_lack(registry.argv, found) == []
    assert stacks_given_a_parameter_they_lack(airflow.argv, found) == []
    assert stacks_given_a_parameter_they_lack(OLD_MAKE_DEPLOY, found) == ["airflow-dev-registry"]


def test_the_context_reached_the_app(synthesized):
    _, out, _ = synthesized
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["artifacts"]["airflow-dev"]["environment"] == "aws://123456789012/eu-west-1"


def test_the_outputs_the_commands_read_are_in_the_template(synthesized):
    _, out, _ = synthesized
    found = templates(out)
    names = set(found["airflow-dev"]["Outputs"])
    for component in contract.SERVICE_NAMES:
        assert f"{outputs.output_key(component)}ServiceName" in names
    for component in contract.LONG_RUNNING_NAMES:  # each container has its log group, beside ones too
        assert f"{outputs.output_key(component)}LogGroup" in names
    read_by_the_cli = {
        "ClusterName",
        "LoadBalancerUrl",
        "QueueUrl",
        "TaskSubnets",
        "AssignPublicIp",
        "StandaloneTaskDefinitionArn",
        "StandaloneTaskFamily",
        "StandaloneContainerName",
        "StandaloneSecurityGroup",
        "StandaloneLogGroup",
    }
    assert read_by_the_cli <= names
    assert "RepositoryUri" in found["airflow-dev-registry"]["Outputs"]


def test_the_stand_in_has_exactly_the_stacks_outputs(synthesized, clients):
    from tests.cli import standin

    _, out, _ = synthesized
    deployed = standin.seed_everything(clients)
    stack = clients.cloudformation.describe_stacks(StackName=deployed.stack)["Stacks"][0]
    assert {o["OutputKey"] for o in stack["Outputs"]} == set(templates(out)["airflow-dev"]["Outputs"])


def test_the_tag_pattern_is_the_stacks(synthesized):
    _, out, _ = synthesized
    parameter = templates(out)["airflow-dev"]["Parameters"]["ImageTag"]
    assert parameter["AllowedPattern"] == image.IMAGE_TAG_PATTERN
