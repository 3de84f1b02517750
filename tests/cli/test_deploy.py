"""`airflow-ecs deploy` end to end against moto, with the CDK CLI and the image builder behind
recording stand-ins (tests/cli/fake_tools.py): order of steps, the exact commands, resuming after
a failed step, the dirty-tree refusal, skipping a push when the tag is already in ECR."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_ecs_cli import cdk, deploy
from tests.cli import standin
from tests.cli.fake_tools import FakeTools, cdk_arguments, git_repository, short_sha

CDK = "node_modules/.bin/cdk"
CONTEXT = [
    "-c",
    "airflow:profile=dev",
    "-c",
    f"airflow:account={standin.ACCOUNT}",
    "-c",
    f"airflow:region={standin.REGION}",
]


@pytest.fixture
def repo(tmp_path) -> Path:
    return git_repository(tmp_path / "checkout")


@pytest.fixture
def present_tools() -> set[str]:
    """Which build tools `which` finds; the Docker engine answers when docker is among them."""
    return {"docker"}


@pytest.fixture
def tools(clients, repo, tmp_path, monkeypatch, present_tools) -> FakeTools:
    fake = FakeTools(clients)
    cdk_cli = tmp_path / "infrastructure" / CDK
    cdk_cli.parent.mkdir(parents=True)
    cdk_cli.touch()
    clock = iter(range(0, 100_000, 60))
    monkeypatch.setattr(cdk, "CDK_CLI", cdk_cli)
    monkeypatch.setattr(deploy, "REPO_ROOT", repo)
    seams = deploy.Seams
    monkeypatch.setattr(
        deploy,
        "Seams",
        lambda: seams(
            run=fake,
            which=lambda name: f"/usr/bin/{name}" if name in present_tools else None,
            engine_answers=lambda name: True,
            sleep=lambda seconds: None,
            clock=lambda: float(next(clock)),
        ),
    )
    return fake


PLATFORMS = "linux/amd64,linux/arm64"


def test_a_single_architecture_deploy_builds_and_pushes_one_image(cli, clients, tools, repo):
    sha = short_sha(repo)
    result = cli("deploy", "--settings", "cpu_architecture=X86_64")
    assert result.exit_code == 0, result.output
    repository = f"{standin.ACCOUNT}.dkr.ecr.{standin.REGION}.amazonaws.com/airflow-dev/airflow"
    assert (
        f"docker build --platform linux/amd64 --tag {repository}:{sha} --file build/prod/Containerfile ." in tools.lines
    )
    assert f"docker push {repository}:{sha}" in tools.lines


def shown(command_line: str) -> str:
    """A recorded command line with the temporary path of the CDK CLI cut short."""
    return re.sub(r"\S*/node_modules/\.bin/cdk", "cdk", command_line)


def test_deploy_from_nothing_runs_every_step_in_order(cli, clients, tools, repo):
    sha = short_sha(repo)
    result = cli("deploy")
    assert result.exit_code == 0, result.output
    repository = f"{standin.ACCOUNT}.dkr.ecr.{standin.REGION}.amazonaws.com/airflow-dev/airflow"
    context = " ".join(CONTEXT)
    assert [shown(line) for line in tools.lines] == [
        f"cdk bootstrap --no-notices {context} aws://{standin.ACCOUNT}/{standin.REGION}",
        f"cdk deploy --no-notices {context} airflow-dev-registry --exclusively",
        # dev runs on ARM64 (Graviton): one image for both architectures, pushed by buildx.
        f"docker buildx build --platform {PLATFORMS} --tag {repository}:{sha} --file build/prod/Containerfile .",
        f"docker login --username AWS --password-stdin {standin.ACCOUNT}.dkr.ecr.{standin.REGION}.amazonaws.com",
        f"docker buildx build --platform {PLATFORMS} --tag {repository}:{sha} --push --file build/prod/Containerfile .",
        f"cdk deploy --no-notices {context} airflow-dev --exclusively --parameters airflow-dev:ImageTag={sha}",
    ]
    # The image is built from the checkout; the CDK runs in infrastructure/ with the caller's region.
    assert tools.commands[2].cwd == repo
    assert tools.commands[0].cwd == cdk.INFRASTRUCTURE
    assert tools.commands[0].env["AWS_REGION"] == standin.REGION
    assert set(tools.commands[0].unset) == {"AIRFLOW_ECS_PROFILE", "AIRFLOW_ECS_SETTINGS"}
    # ECR's token is base64("AWS:<password>"): the password alone, on standard input only.
    login = tools.commands[3]
    assert login.stdin and login.stdin not in login.shown() and ":" not in login.stdin
    steps = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert steps == [f"[{n}/6] {title}" for n, title in enumerate(deploy.STEPS, start=1)]
    assert "is not bootstrapped yet: bootstrapping it" in result.stdout
    assert re.search(r"migrations: task \S+ \(revision \S+\) exited with 0", result.stdout)
    assert "every service is stable: api-server 1/1, scheduler 1/1, dag-processor 1/1, triggerer 1/1, worker 1/1" in (
        result.stdout
    )
    assert f"Airflow is deployed: {standin.UI_URL}  (stack airflow-dev, image {sha})" in result.stdout
    assert "`airflow-ecs admin-password --profile dev` prints the password" in result.stdout
    assert standin.ADMIN_PASSWORD not in result.output
    stack = clients.cloudformation.describe_stacks(StackName="airflow-dev")["Stacks"][0]
    assert stack["Parameters"] == [{"ParameterKey": "ImageTag", "ParameterValue": sha}]
    images = clients.ecr.describe_images(repositoryName="airflow-dev/airflow")["imageDetails"]
    assert [image["imageTags"] for image in images] == [[sha]]


def test_the_image_tag_is_scoped_to_the_airflow_stack_and_never_given_to_the_registry(cli, clients, tools, repo):
    assert cli("deploy").exit_code == 0
    parameters = {}
    for command in tools.commands:
        if not command.argv[0].endswith("cdk"):
            continue
        action, (stack,), options = cdk_arguments(command.argv)
        if action == "deploy":
            parameters[stack] = options.get("--parameters", [])
    # Today's `make deploy` passed `--all --parameters ImageTag=...`: the registry stack got it too.
    assert parameters == {"airflow-dev-registry": [], "airflow-dev": [f"airflow-dev:ImageTag={short_sha(repo)}"]}


def test_a_failed_step_says_which_and_running_again_resumes(cli, clients, tools, repo):
    sha = short_sha(repo)
    tools.fail_once["deploy --no-notices"] = 1  # the first stack deploy: the registry's
    first = cli("deploy")
    assert first.exit_code == 1
    assert first.stderr == (
        "error: step 3/6 (registry stack) failed: `cdk deploy` exited with 1 (its output is above). Fix that and run "
        "`airflow-ecs deploy` again: finished steps are skipped or change nothing\n"
    )
    assert len(tools.commands) == 2  # bootstrap, then the failed registry deploy: nothing after it
    tools.fail_once[f"ImageTag={sha}"] = 1  # now the Airflow stack fails once
    second = cli("deploy")
    assert second.exit_code == 1 and "step 5/6 (Airflow stack) failed" in second.stderr
    third = cli("deploy")
    assert third.exit_code == 0, third.output
    assert "is bootstrapped" in third.stdout and "is already in the registry: not built again" in third.stdout
    resumed = [shown(line).split()[:2] + shown(line).split()[9:10] for line in tools.lines[-2:]]
    # The third run only deploys the two stacks again: no bootstrap, no build, no push.
    assert resumed == [["cdk", "deploy", "airflow-dev-registry"], ["cdk", "deploy", "airflow-dev"]]
    assert sum("buildx build" in line and "--push" not in line for line in tools.lines) == 1


def test_a_dirty_tree_is_refused_before_anything_changes(cli, clients, tools, repo):
    (repo / "README.md").write_text("changed\n")
    (repo / "new.py").write_text("print('new')\n")
    result = cli("deploy")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: the working tree has uncommitted changes (2: README.md, new.py): commit them so the image tag names "
        "the code, or pass --allow-dirty\n"
    )
    assert tools.commands == []
    assert clients.cloudformation.describe_stacks()["Stacks"] == []


def test_allow_dirty_tags_the_changes_and_the_same_changes_get_the_same_tag(cli, clients, tools, repo):
    (repo / "README.md").write_text("changed\n")
    assert cli("deploy", "--allow-dirty").exit_code == 0
    tag = clients.cloudformation.describe_stacks(StackName="airflow-dev")["Stacks"][0]["Parameters"][0][
        "ParameterValue"
    ]
    assert re.fullmatch(rf"{short_sha(repo)}-dirty-[0-9a-f]{{8}}", tag)
    again = cli("deploy", "--allow-dirty")
    assert again.exit_code == 0 and f":{tag} is already in the registry" in again.stdout
    (repo / "README.md").write_text("changed again\n")
    assert cli("deploy", "--allow-dirty").exit_code == 0
    assert sum("--push" in line for line in tools.lines) == 2


def test_an_image_already_in_the_registry_is_not_built_or_pushed(cli, clients, tools, repo):
    standin.seed_everything(clients, image_tag=short_sha(repo))
    result = cli("deploy")
    assert result.exit_code == 0, result.output
    assert [shown(line).split()[:2] for line in tools.lines] == [["cdk", "deploy"], ["cdk", "deploy"]]
    assert "image tag " + short_sha(repo) + ", already in the registry" in result.stdout


@pytest.mark.parametrize("present_tools", [set()])
def test_no_build_tool_is_one_line_and_nothing_is_created(cli, clients, tools, present_tools):
    result = cli("deploy")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no image build tool: install Docker (with buildx) or podman, or deploy an image already pushed "
        "with --image-tag\n"
    )
    assert tools.commands == [] and clients.cloudformation.describe_stacks()["Stacks"] == []


@pytest.mark.parametrize("present_tools", [{"podman"}])
def test_arm64_settings_build_both_architectures_with_podman(cli, clients, tools, repo, present_tools):
    result = cli("deploy", "--settings", "cpu_architecture=ARM64")
    assert result.exit_code == 0, result.output
    reference = f"{standin.ACCOUNT}.dkr.ecr.{standin.REGION}.amazonaws.com/airflow-dev/airflow:{short_sha(repo)}"
    image_commands = [command for command in tools.commands if command.argv[0] == "podman"]
    assert [command.shown() for command in image_commands] == [
        f"podman manifest rm {reference}",
        "podman build --format docker --platform linux/amd64,linux/arm64 "
        f"--manifest {reference} --file build/prod/Containerfile .",
        f"podman login --username AWS --password-stdin {reference.split('/')[0]}",
        f"podman manifest push --all {reference} docker://{reference}",
    ]
    assert image_commands[0].may_fail  # a manifest list left by an interrupted run, or none
    assert "-c airflow:cpu_architecture=ARM64" in tools.lines[0]


def test_arm64_with_docker_uses_buildx_for_both_architectures(cli, clients, tools, repo):
    assert cli("deploy", "--settings", "cpu_architecture=ARM64").exit_code == 0
    builds = [line for line in tools.lines if line.startswith("docker buildx")]
    assert [line.split()[3:5] for line in builds] == [["--platform", "linux/amd64,linux/arm64"]] * 2
    assert "--push" not in builds[0] and "--push" in builds[1]


def test_image_tag_deploys_an_image_already_pushed_and_refuses_a_missing_one(cli, clients, tools):
    standin.seed_everything(clients, image_tag="1.4.0")
    missing = cli("deploy", "--image-tag", "1.5.0")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: --image-tag 1.5.0: no such image in ")
    assert tools.commands == []
    assert cli("deploy", "--image-tag", "latest").exit_code == 2
    rollback = cli("deploy", "--image-tag", "1.4.0", "--yes")
    assert rollback.exit_code == 0, rollback.output
    assert shown(tools.lines[-1]).endswith(
        "airflow-dev --exclusively --require-approval never --parameters airflow-dev:ImageTag=1.4.0"
    )


def test_settings_reach_the_cdk_app_as_context_and_name_the_stacks(cli, clients, tools, repo):
    result = cli("deploy", "--settings", "name=airflow-test worker.count=2")
    assert result.exit_code == 0, result.output
    stacks = []
    for command in tools.commands:
        if not command.argv[0].endswith("cdk"):
            continue
        _, (stack,), options = cdk_arguments(command.argv)
        stacks.append(stack)
        assert options["-c"] == [
            "airflow:profile=dev",
            "airflow:name=airflow-test",
            "airflow:worker.count=2",
            f"airflow:account={standin.ACCOUNT}",
            f"airflow:region={standin.REGION}",
        ]
    assert stacks[-2:] == ["airflow-test-registry", "airflow-test"]
    assert options["--parameters"] == [f"airflow-test:ImageTag={short_sha(repo)}"]


def test_settings_for_another_region_are_refused(cli, clients, tools):
    result = cli("deploy", "--settings", "region=us-west-2")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: settings: region=us-west-2 but your AWS credentials are for region eu-west-1"
    )
    assert tools.commands == []


def test_no_credentials_stop_the_deploy_before_anything_runs(cli, clients, tools, monkeypatch):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = cli("deploy")
    assert result.exit_code == 1 and result.stderr.startswith("error: no AWS credentials found")
    assert tools.commands == []


def test_a_rollout_that_does_not_settle_fails_step_6_with_the_service_and_the_fix(
    cli, clients, tools, repo, monkeypatch
):
    deployed = standin.seed_everything(clients, image_tag=short_sha(repo))
    worker = deployed.services["worker"]
    clients.ecs.delete_service(cluster=deployed.cluster, service=worker, force=True)
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "0")
    clients.ecs.create_service(
        cluster=deployed.cluster,
        serviceName=worker,
        taskDefinition="airflow-dev-worker",
        desiredCount=2,
        launchType="FARGATE",
    )
    result = cli("deploy")
    assert result.exit_code == 1
    assert "waiting for worker (0/2 running, in_progress)" in result.stdout
    assert result.stderr.startswith("error: step 6/6 (rollout) failed: not stable after 30 min: worker runs 0 of 2 (")
    assert "`airflow-ecs logs worker` shows why" in result.stderr
