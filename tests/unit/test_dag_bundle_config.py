"""AIRFLOW_DAGS_BUCKET becomes Airflow's S3 DAG bundle, which Airflow itself loads and fetches
(moto's S3 in process); without a bucket Airflow's own default (the DAGs folder) is left alone."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from deploy_airflow_on_ecs_fargate.settings import (
    S3_DAG_BUNDLE_NAME,
    ConfigurationError,
    load_settings,
)

BUCKET = "airflow-dev-dagbundlebucket-0123abcd"
BUNDLE_LIST = "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"


def test_without_a_bucket_airflow_keeps_its_dags_folder(valid_environment):
    settings = load_settings("dag-processor", valid_environment)
    assert settings.dag_bundle_config is None
    assert BUNDLE_LIST not in settings.airflow_environment(valid_environment)


@pytest.mark.parametrize("component", ["dag-processor", "worker", "scheduler", "api-server", "airflow"])
def test_with_a_bucket_every_component_names_the_same_s3_bundle(valid_environment, component):
    valid_environment["AIRFLOW_DAGS_BUCKET"] = BUCKET
    environment = load_settings(component, valid_environment).airflow_environment(valid_environment)
    assert json.loads(environment[BUNDLE_LIST]) == [
        {
            "name": S3_DAG_BUNDLE_NAME,
            "classpath": "airflow.providers.amazon.aws.bundles.s3.S3DagBundle",
            "kwargs": {"bucket_name": BUCKET, "refresh_interval": 30},
        }
    ]


def test_an_explicit_bundle_list_wins(valid_environment):
    valid_environment["AIRFLOW_DAGS_BUCKET"] = BUCKET
    valid_environment[BUNDLE_LIST] = "[]"
    assert load_settings("worker", valid_environment).airflow_environment(valid_environment)[BUNDLE_LIST] == "[]"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AIRFLOW_DAGS_BUCKET", "s3://my-dags", "AIRFLOW_DAGS_BUCKET is not an S3 bucket name: got 's3://my-dags'"),
        ("AIRFLOW_DAGS_BUCKET", "My_Dags", "AIRFLOW_DAGS_BUCKET is not an S3 bucket name"),
        ("AIRFLOW_DAGS_REFRESH_SECONDS", "1", "AIRFLOW_DAGS_REFRESH_SECONDS is out of range: got 1, expected 5 to"),
    ],
)
def test_a_bad_bucket_or_interval_is_one_line(valid_environment, variable, value, message):
    valid_environment.setdefault("AIRFLOW_DAGS_BUCKET", BUCKET)
    valid_environment[variable] = value
    with pytest.raises(ConfigurationError) as error:
        load_settings("dag-processor", valid_environment)
    assert str(error.value).startswith(message)


@mock_aws
def test_airflow_loads_the_bundle_and_fetches_the_bucket(valid_environment, monkeypatch, tmp_path):
    """What the dag-processor and each task do: Airflow's bundle manager builds the bundle from the
    derived list, and initializing it downloads the bucket (and removes what the bucket lost)."""
    valid_environment["AIRFLOW_DAGS_BUCKET"] = BUCKET
    valid_environment["AIRFLOW_DAGS_REFRESH_SECONDS"] = "15"
    environment = load_settings("worker", valid_environment).airflow_environment(valid_environment)
    monkeypatch.setenv(BUNDLE_LIST, environment[BUNDLE_LIST])
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", "aws://")  # the task role's credentials, as on ECS
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="hello.py", Body=b"print('hello')\n")
    s3.put_object(Bucket=BUCKET, Key="team/etl.py", Body=b"x = 1\n")

    from airflow.dag_processing.bundles.manager import DagBundlesManager

    bundle = DagBundlesManager().get_bundle(S3_DAG_BUNDLE_NAME)
    assert type(bundle).__name__ == "S3DagBundle"
    assert bundle.refresh_interval == 15
    bundle.initialize()
    assert (bundle.path / "hello.py").read_text() == "print('hello')\n"
    assert (bundle.path / "team" / "etl.py").exists()
    s3.delete_object(Bucket=BUCKET, Key="team/etl.py")
    bundle.refresh()
    assert sorted(p.name for p in bundle.path.rglob("*.py")) == ["hello.py"]
