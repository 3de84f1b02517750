"""`airflow-ecs destroy` against moto, the CDK CLI behind the recording stand-in: what it shows,
the typed confirmation, the order of deletion, what it says is kept, and what it refuses."""

from __future__ import annotations

import pytest

from airflow_ecs_cli import cdk, destroy
from tests.cli import standin
from tests.cli.fake_tools import FakeTools


@pytest.fixture
def tools(clients, tmp_path, monkeypatch) -> FakeTools:
    fake = FakeTools(clients)
    cdk_cli = tmp_path / "node_modules" / ".bin" / "cdk"
    cdk_cli.parent.mkdir(parents=True)
    cdk_cli.touch()
    monkeypatch.setattr(cdk, "CDK_CLI", cdk_cli)
    monkeypatch.setattr(destroy, "run_command", fake)
    return fake


def stack_names(clients) -> list[str]:
    return sorted(stack["StackName"] for stack in clients.cloudformation.describe_stacks()["Stacks"])


def test_destroy_shows_what_goes_and_stays_then_deletes_in_dependency_order(cli, clients, deployed, tools):
    result = cli("destroy", input="airflow-dev\n")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"In AWS account {standin.ACCOUNT}, region {standin.REGION}, this deletes:" in out
    assert "  stack airflow-dev (4 resources)\n  stack airflow-dev-registry (1 resources)\n" in out
    (bucket,) = [b["Name"] for b in clients.s3.list_buckets()["Buckets"] if "accesslogs" in b["Name"]]
    assert f"  S3 bucket {bucket} (airflow-dev)\n" in out
    assert f"  S3 bucket {deployed.dag_bucket} (airflow-dev)\n" in out
    assert "  image repository airflow-dev/airflow (airflow-dev-registry)\n" in out
    assert "Type airflow-dev to delete it" in out
    destroyed = [line.split() for line in tools.lines]
    assert [(words[1], words[-3]) for words in destroyed] == [
        ("destroy", "airflow-dev"),
        ("destroy", "airflow-dev-registry"),
    ]
    assert all(words[-2:] == ["--exclusively", "--force"] for words in destroyed)
    assert stack_names(clients) == ["CDKToolkit"]
    assert out.rstrip().splitlines()[-1].startswith(f"Kept (delete by hand when no longer needed): S3 bucket {bucket}")


def test_a_wrong_name_or_no_answer_deletes_nothing(cli, clients, deployed, tools):
    wrong = cli("destroy", input="airflow-prod\n")
    assert wrong.exit_code == 1
    assert wrong.stderr == "error: nothing deleted: 'airflow-prod' is not airflow-dev\n"
    silent = cli("destroy", input="")
    assert silent.exit_code == 1
    assert silent.stderr.endswith("error: nothing deleted: no confirmation (pass --yes in scripts)\n")
    assert tools.commands == []
    assert stack_names(clients) == ["CDKToolkit", "airflow-dev", "airflow-dev-registry"]


def test_yes_skips_the_question(cli, clients, deployed, tools):
    result = cli("destroy", "--yes")
    assert result.exit_code == 0, result.output
    assert "Type airflow-dev" not in result.stdout
    assert stack_names(clients) == ["CDKToolkit"]


def test_a_database_with_deletion_protection_is_refused_before_anything_is_deleted(cli, clients, tools):
    standin.seed_bootstrap(clients)
    registry = standin.seed_registry(clients)
    standin.seed_application(clients, repository_uri=registry, deletion_protection=True)
    result = cli("destroy", "--profile", "dev", "--yes")
    assert result.exit_code == 1
    assert "a final snapshot of the database " in result.stdout
    assert result.stderr.startswith("error: nothing deleted: the database ")
    assert result.stderr.rstrip().endswith(
        "has deletion protection: deploy once with --settings db_deletion_protection=false, then destroy"
    )
    assert tools.commands == []


def test_a_failed_deletion_names_the_stack_and_what_was_deleted(cli, clients, deployed, tools):
    tools.fail_once["airflow-dev-registry"] = 1
    result = cli("destroy", "--yes")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: deleting airflow-dev-registry failed: `cdk destroy` exited with 1 (its output is above); "
        "deleted so far: airflow-dev\n"
    )


def test_nothing_to_delete(cli, clients, tools):
    result = cli("destroy", "--settings", "name=airflow-gone")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: nothing to delete: neither airflow-gone nor airflow-gone-registry exists in {standin.REGION}\n"
    )
