"""How long `airflow-ecs dags push` takes to be live, measured on a local stack whose DAGs come from
S3 as on AWS (dag_source=s3): the runtime's S3 DAG bundle on the stack's own moto server.

    .venv/bin/python scripts/measure_dag_push.py [--rounds 3]

Brings up a throwaway stack (free ports, its own LOCAL_STACK_HOME under /tmp, so it runs beside
`make up`) with AIRFLOW_DAGS_BUCKET set and S3 pointed at the stack's moto server, creates a
CloudFormation stack there that outputs DagBucketName (what `dags push` reads), then per round:
pushes a new DAG file and times until the REST API lists it; pushes a change and times until the
API shows it. Once, it runs the pushed DAG: the worker fetches the bundle from S3 before the task.
Prints one line per measurement and a summary; the stack is stopped and its folder deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy_airflow_on_ecs_fargate import contract
from local_stack.airflow_api import AirflowApi, ApiError
from local_stack.environment import api_url
from local_stack.paths import StackPaths

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "local-dag-bundle"
CLOUDFORMATION_STACK = "airflow-local-dags"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local-only", "AWS_SECRET_ACCESS_KEY": "local-only"}
DAG = """from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, description="{description}")
def pushed():
    @task
    def hello():
        return "{description}"

    hello()


pushed()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, env=environment, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        print(result.stdout, result.stderr, file=sys.stderr)
    return result


def environment_for(home: Path) -> dict[str, str]:
    own = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LOCAL_STACK", "PYTEST", "AWS_"))}
    sqs_port = free_port()
    (home / "dags").mkdir(parents=True)
    return {
        **own,
        **{port.variable: str(free_port()) for port in contract.PORTS},
        "LOCAL_STACK_POSTGRES_PORT": str(free_port()),
        "LOCAL_STACK_SQS_PORT": str(sqs_port),
        "LOCAL_STACK_HOME": str(home / "state"),
        # An empty folder: every DAG comes from the bucket.
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW_DAGS_BUCKET": BUCKET,
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "bundles"),
        # The stack's moto server answers S3 and CloudFormation as well as SQS.
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{sqs_port}",
    }


def create_bucket_stack(endpoint: str) -> None:
    """What `cdk deploy` leaves for `dags push`: a bucket and the output naming it."""
    template = {
        "Resources": {"DagBundleBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": BUCKET}}},
        "Outputs": {"DagBucketName": {"Value": {"Ref": "DagBundleBucket"}}},
    }
    client = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1", **_keys())
    client.create_stack(StackName=CLOUDFORMATION_STACK, TemplateBody=json.dumps(template))


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": "local-only"}


def push(folder: Path, endpoint: str) -> float:
    """`airflow-ecs dags push`; the moment it returned."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
    }
    command = [sys.executable, "-m", "airflow_ecs_cli", "dags", "push", "--folder", str(folder)]
    result = run([*command, "--stack", CLOUDFORMATION_STACK], environment)
    if result.returncode != 0:
        raise SystemExit("dags push failed")
    print("   ", result.stdout.strip().splitlines()[-1])
    return time.monotonic()


def wait_until(condition, timeout: float = 180) -> float:
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout:
            raise SystemExit(f"not live after {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic()


def description_of(api: AirflowApi, dag_id: str) -> str | None:
    try:
        return api.call("GET", f"/api/v2/dags/{dag_id}")["description"]
    except ApiError:
        return None


def measure(rounds: int, environment: dict[str, str], folder: Path) -> None:
    up = run([sys.executable, "-m", "local_stack", "up"], environment)
    if up.returncode != 0:
        raise SystemExit("make up failed")
    paths = StackPaths(Path(environment["LOCAL_STACK_HOME"]))
    saved = json.loads(paths.environment_file.read_text())
    api = AirflowApi.login(api_url(saved), saved["AIRFLOW_ADMIN_USERNAME"], saved["AIRFLOW_ADMIN_PASSWORD"])
    endpoint = environment["AWS_ENDPOINT_URL_S3"]
    create_bucket_stack(endpoint)
    new, changed = [], []
    for round_number in range(1, rounds + 1):
        dag_id = f"pushed_{round_number}"
        (folder / f"{dag_id}.py").write_text(DAG.format(dag_id=dag_id, description="first"))
        pushed = push(folder, endpoint)
        new.append(wait_until(lambda dag_id=dag_id: description_of(api, dag_id) == "first") - pushed)
        print(f"round {round_number}: new DAG listed {new[-1]:.1f} s after the push")
        (folder / f"{dag_id}.py").write_text(DAG.format(dag_id=dag_id, description="second"))
        pushed = push(folder, endpoint)
        changed.append(wait_until(lambda dag_id=dag_id: description_of(api, dag_id) == "second") - pushed)
        print(f"round {round_number}: changed DAG shown {changed[-1]:.1f} s after the push")
    # The worker fetches the bundle from S3 before it runs the task.
    api.wait_for_dag("pushed_1")
    run_id = api.trigger("pushed_1")
    state = api.wait_for_run("pushed_1", run_id, timeout=180)
    print(f"pushed_1 triggered: {state}")
    print(
        f"\n{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}: "
        f"new DAG live after {min(new):.1f}-{max(new):.1f} s (median {statistics.median(new):.1f}), "
        f"a change after {min(changed):.1f}-{max(changed):.1f} s (median {statistics.median(changed):.1f}), "
        f"{rounds} rounds; the pushed DAG's run: {state}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="dag-push-"))
    environment = environment_for(home)
    folder = home / "pushed-dags"
    folder.mkdir()
    try:
        measure(args.rounds, environment, folder)
    finally:
        run([sys.executable, "-m", "local_stack", "down"], environment)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
