"""Create the Celery queue on the SQS emulator of docker-compose.yml (one-shot, idempotent).

Runs in the emulator's own image (moto ships boto3), before any Airflow component starts.
Production queues are created by the CDK app; this only mirrors them for local containers.
"""

from __future__ import annotations

import json
import os
import sys
from urllib.parse import urlsplit

import boto3


def create_queues(queues: dict[str, str], visibility_timeout: int, region: str | None = None) -> list[str]:
    """Create every queue named in AIRFLOW_SQS_QUEUES (Celery name -> queue URL) and return the URLs.

    The queue's own VisibilityTimeout attribute is what counts for Celery on SQS with predefined
    queues, so it is set to the same value the components read.
    """
    sqs = boto3.client("sqs", region_name=region)
    created = []
    for url in queues.values():
        name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        response = sqs.create_queue(
            QueueName=name,
            Attributes={"VisibilityTimeout": str(visibility_timeout)},
        )
        # The components reach the queue through the URL they were given: it must be this queue.
        if urlsplit(response["QueueUrl"]).path != urlsplit(url).path:
            raise SystemExit(
                f"AIRFLOW_SQS_QUEUES names {url}, but the emulator created {response['QueueUrl']}:"
                " fix the account id or queue name in docker-compose.yml"
            )
        created.append(response["QueueUrl"])
    return created


def main() -> int:
    queues = json.loads(os.environ["AIRFLOW_SQS_QUEUES"])
    visibility_timeout = int(os.environ.get("AIRFLOW_SQS_VISIBILITY_TIMEOUT", "21600"))
    # The runtime contract names AWS_REGION (Fargate sets it); boto3 itself reads only AWS_DEFAULT_REGION.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    for url in create_queues(queues, visibility_timeout, region):
        print(f"queue ready: {url} (VisibilityTimeout {visibility_timeout} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
