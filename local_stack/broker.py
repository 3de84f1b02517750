"""The local SQS: moto's server speaks the SQS API, so the scheduler and workers use the same
kombu transport and settings as on AWS (the seed used an SQS emulator for the same reason).

moto keeps queues in memory; `local_stack.sqs_server` runs it with a journal, so a crash or restart
of the emulator loses nothing. So that work queued but not started survives `make down` as fresh
messages, the stack stops the scheduler and workers first, then moves the messages still in the
queue to a file (`save_backlog`) and sends them again after the next start (`restore_backlog`)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import boto3

REGION = "us-east-1"
QUEUE_NAME = "airflow-default"
# moto accepts any credentials; set them so a developer's own AWS profile is never used.
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def queue_url(port: int) -> str:
    # moto's account id and URL layout; ensure_queue returns the same URL.
    return f"{endpoint(port)}/123456789012/{QUEUE_NAME}"


def server_command(python: str, port: int, journal: Path) -> list[str]:
    return [
        python,
        "-m",
        "local_stack.sqs_server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--journal",
        str(journal),
    ]


def client(port: int):
    return boto3.client("sqs", region_name=REGION, endpoint_url=endpoint(port), **CREDENTIALS)


def wait_until_serving(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint(port)}/moto-api/", timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"SQS emulator on port {port} did not answer within {timeout:.0f} s") from None
            time.sleep(0.1)


def ensure_queue(port: int, *, visibility_timeout: int) -> str:
    """Create the queue if needed and give it the visibility timeout the workers are configured for."""
    sqs = client(port)
    url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(visibility_timeout)})
    return url


def save_backlog(port: int, queue_url: str, backlog_file: Path) -> int:
    """Move every visible message to ``backlog_file``; return how many."""
    sqs = client(port)
    bodies = json.loads(backlog_file.read_text()) if backlog_file.exists() else []
    saved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            break
        bodies.extend(message["Body"] for message in messages)
        # Written before deleting: a crash in between duplicates a message, never loses one.
        backlog_file.write_text(json.dumps(bodies))
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
        saved += len(messages)
    return saved


def restore_backlog(port: int, queue_url: str, backlog_file: Path) -> int:
    """Send the saved messages again and remove the file; return how many."""
    if not backlog_file.exists():
        return 0
    bodies = json.loads(backlog_file.read_text())
    sqs = client(port)
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    backlog_file.unlink()
    return len(bodies)
