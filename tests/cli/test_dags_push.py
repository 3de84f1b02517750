"""`airflow-ecs dags push` against moto's S3, the DAG bucket of the seeded stack (versioned, as
the stack makes it): only changes go up, removed files go away (restorable), nothing goes up when
a file does not compile, and bad input is one line."""

from __future__ import annotations

import json
import re

import pytest

from airflow_ecs_cli import dags
from tests.cli import standin

DAG = "from airflow.sdk import dag\n\n\n@dag(schedule=None)\ndef {name}():\n    pass\n\n\n{name}()\n"


@pytest.fixture
def folder(tmp_path):
    dags_folder = tmp_path / "dags"
    (dags_folder / "team" / "__pycache__").mkdir(parents=True)
    (dags_folder / "first.py").write_text(DAG.format(name="first"))
    (dags_folder / "team" / "second.py").write_text(DAG.format(name="second"))
    (dags_folder / ".airflowignore").write_text("scratch/\n")
    (dags_folder / "team" / "__pycache__" / "second.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (dags_folder / "stray.pyc").write_bytes(b"\x00bytecode")
    return dags_folder


def bucket_contents(clients, bucket: str) -> dict[str, str]:
    listed = clients.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: clients.s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode() for o in listed}


def test_the_first_push_uploads_every_file_but_bytecode_and_says_when_it_is_live(cli, deployed, clients, folder):
    result = cli("dags", "push", "--folder", str(folder))
    assert result.exit_code == 0, result.output
    assert bucket_contents(clients, deployed.dag_bucket) == {
        ".airflowignore": "scratch/\n",
        "first.py": DAG.format(name="first"),
        "team/second.py": DAG.format(name="second"),
    }
    lines = result.stdout.splitlines()
    assert lines[0] == f"pushing {folder} to s3://{deployed.dag_bucket} (stack {standin.STACK})"
    assert lines[1:4] == ["  added    .airflowignore", "  added    first.py", "  added    team/second.py"]
    assert re.fullmatch(
        r"3 change\(s\), 0 file\(s\) unchanged: live within 40 s, by \d\d:\d\d:\d\d \(the dag-processor fetches "
        r"the bucket every 30 s, then parses what changed; tasks started after that run the new code\)",
        lines[4],
    )
    assert dags.LIVE_WITHIN_SECONDS == 40


def test_a_second_push_sends_only_what_changed_and_deletes_what_is_gone(cli, deployed, clients, folder):
    assert cli("dags", "push", "--folder", str(folder)).exit_code == 0
    (folder / "first.py").write_text(DAG.format(name="first_renamed"))
    (folder / "team" / "second.py").unlink()
    (folder / "third.py").write_text(DAG.format(name="third"))
    result = cli("dags", "push", "--folder", str(folder))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:4] == [
        "  added    third.py",
        "  changed  first.py",
        "  deleted  team/second.py",
    ]
    assert result.stdout.splitlines()[4].startswith("3 change(s), 1 file(s) unchanged: live within 40 s")
    assert bucket_contents(clients, deployed.dag_bucket) == {
        ".airflowignore": "scratch/\n",
        "first.py": DAG.format(name="first_renamed"),
        "third.py": DAG.format(name="third"),
    }
    # Versioned: the deleted file and the old content can be restored.
    versions = clients.s3.list_object_versions(Bucket=deployed.dag_bucket)
    assert [m["Key"] for m in versions.get("DeleteMarkers", [])] == ["team/second.py"]
    assert sorted(v["Key"] for v in versions["Versions"] if not v["IsLatest"]) == ["first.py", "team/second.py"]

    again = cli("dags", "push", "--folder", str(folder))
    assert again.exit_code == 0, again.output
    assert again.stdout == f"nothing to push: s3://{deployed.dag_bucket} already has the 3 file(s) of {folder}\n"


def test_a_syntax_error_uploads_nothing(cli, deployed, clients, folder):
    (folder / "team" / "broken.py").write_text("def broken(:\n    pass\n")
    (folder / "also_broken.py").write_text("x = (\n")
    result = cli("dags", "push", "--folder", str(folder))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: also_broken.py line 1: '(' was never closed (and 1 more file(s) with errors): "
        "nothing uploaded; fix it and push again\n"
    )
    assert bucket_contents(clients, deployed.dag_bucket) == {}


@pytest.mark.parametrize(
    ("make_folder", "message"),
    [
        (lambda tmp: tmp / "missing", "no DAGs folder at {folder}: run from the project's root or give --folder PATH"),
        (
            lambda tmp: (tmp / "empty").mkdir() or tmp / "empty",
            "no files in {folder}: nothing pushed (pushing an empty folder would delete every DAG of the deployment)",
        ),
    ],
)
def test_no_folder_or_an_empty_one_is_one_line(cli, deployed, clients, tmp_path, make_folder, message):
    folder = make_folder(tmp_path)
    result = cli("dags", "push", "--folder", str(folder))
    assert result.exit_code == 2
    assert result.stderr == f"error: {message.format(folder=folder)}\n"


def test_a_stack_with_dags_in_the_image_has_no_bucket_to_push_to(cli, deployed, clients, folder):
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"ClusterName": {"Value": "airflow-image"}},
    }
    clients.cloudformation.create_stack(StackName="airflow-image", TemplateBody=json.dumps(template))
    result = cli("dags", "push", "--folder", str(folder), "--stack", "airflow-image")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: stack airflow-image has no DAG bucket: its DAGs are baked into the image (dag_source=image); "
        "deploy with `--settings dag_source=s3` to push DAGs, or build and deploy an image with them\n"
    )
