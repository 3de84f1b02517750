"""build/compose/create_sqs_queue.py, the compose stack's one-shot queue creator, against moto."""

from __future__ import annotations

import importlib.util

import boto3
import pytest
from moto import mock_aws

from deploy_airflow_on_ecs_fargate.settings import ConfigurationError

from .helpers import ROOT

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/airflow-default"


@pytest.fixture
def create_sqs_queue(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SQS", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    spec = importlib.util.spec_from_file_location(
        "create_sqs_queue", ROOT / "build" / "compose" / "create_sqs_queue.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with mock_aws():
        yield module


def test_creates_the_queue_with_the_components_visibility_timeout(create_sqs_queue):
    assert create_sqs_queue.create_queues({"default": QUEUE_URL}, 21600) == [QUEUE_URL]
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=QUEUE_URL, AttributeNames=["VisibilityTimeout"])
    assert attributes["Attributes"]["VisibilityTimeout"] == "21600"


def test_running_twice_is_harmless(create_sqs_queue):
    create_sqs_queue.create_queues({"default": QUEUE_URL}, 21600)
    assert create_sqs_queue.create_queues({"default": QUEUE_URL}, 21600) == [QUEUE_URL]


def test_a_url_the_emulator_would_not_serve_is_an_error(create_sqs_queue):
    with pytest.raises(ConfigurationError, match="fix the account id or queue name"):
        create_sqs_queue.create_queues({"default": "http://sqs:5000/000000000000/airflow-default"}, 21600)


def test_main_reads_the_compose_environment(create_sqs_queue, monkeypatch, capsys):
    # AWS_REGION alone, as the runtime contract allows: boto3 would not read it by itself.
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AIRFLOW_SQS_QUEUES", f'{{"default": "{QUEUE_URL}"}}')
    monkeypatch.setenv("AIRFLOW_SQS_VISIBILITY_TIMEOUT", "600")
    assert create_sqs_queue.main() == 0
    assert capsys.readouterr().out == f"queue ready: {QUEUE_URL} (VisibilityTimeout 600 s)\n"


def test_main_says_what_is_wrong_in_one_line(create_sqs_queue, monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW_SQS_QUEUES", '{"default": "http://sqs:5000/123456789012/airflow-default"}')
    monkeypatch.setenv("AIRFLOW_SQS_VISIBILITY_TIMEOUT", "5")
    assert create_sqs_queue.main() == 2
    assert capsys.readouterr().err == (
        "create_sqs_queue: error: AIRFLOW_SQS_VISIBILITY_TIMEOUT is out of range: got 5, expected 60 to 43200\n"
    )
