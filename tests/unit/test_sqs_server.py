"""The local SQS server: moto's, made durable (a killed server loses no message) and with long
polls that end with their client (a dead worker's poll swallows no message)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import boto3
import botocore.config
import pytest

from local_stack import broker
from tests.conftest import REPO_ROOT, free_port


def start_server(port: int, journal) -> subprocess.Popen:
    process = subprocess.Popen(
        broker.server_command(sys.executable, port, journal),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    broker.wait_until_serving(port)
    return process


@pytest.fixture
def server(tmp_path):
    port = free_port()
    journal = tmp_path / "journal.json"
    processes = [start_server(port, journal)]

    def restart_after_kill():
        processes[-1].send_signal(signal.SIGKILL)
        processes[-1].wait()
        processes.append(start_server(port, journal))

    yield port, restart_after_kill
    for process in processes:
        if process.poll() is None:
            process.terminate()
            process.wait()


def drain(client, url) -> list[str]:
    bodies = []
    while messages := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in messages]
        for message in messages:
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_a_killed_server_comes_back_with_every_message_as_it_was(server):
    port, restart_after_kill = server
    url = broker.ensure_queue(port, visibility_timeout=600)
    sqs = broker.client(port)
    for n in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"task-{n}")
    held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]  # a worker runs it
    restart_after_kill()
    # The queue and its visibility timeout are back; the held message is still invisible...
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "600"
    assert sorted(drain(sqs, url)) == sorted(f"task-{n}" for n in range(5) if f"task-{n}" != held["Body"])
    # ... and the worker that holds it still deletes it with its receipt handle: no second delivery.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=held["ReceiptHandle"])
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


def test_a_long_poll_whose_client_is_gone_takes_no_message(server):
    port, _ = server
    url = broker.ensure_queue(port, visibility_timeout=600)
    impatient = boto3.client(
        "sqs",
        region_name=broker.REGION,
        endpoint_url=broker.endpoint(port),
        config=botocore.config.Config(read_timeout=1, retries={"total_max_attempts": 1}),
        **broker.CREDENTIALS,
    )
    # A worker dies during its 20 s long poll (here: gives up after 1 s).
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        impatient.receive_message(QueueUrl=url, WaitTimeSeconds=20)
    time.sleep(1)  # the server notices within half a second
    sqs = broker.client(port)
    sqs.send_message(QueueUrl=url, MessageBody="sent after the worker died")
    answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages")
    assert answer and answer[0]["Body"] == "sent after the worker died"


def test_a_live_long_poll_gets_a_message_sent_during_its_wait_at_once(server):
    port, _ = server
    url = broker.ensure_queue(port, visibility_timeout=600)
    sqs = broker.client(port)
    threading.Timer(1.0, lambda: broker.client(port).send_message(QueueUrl=url, MessageBody="late")).start()
    began = time.monotonic()
    answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages")
    assert answer and answer[0]["Body"] == "late"
    assert time.monotonic() - began < 3
    began = time.monotonic()
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages") is None
    assert 1.9 < time.monotonic() - began < 4, "an empty long poll lasts its wait"
