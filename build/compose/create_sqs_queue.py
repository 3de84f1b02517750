"""Create the Celery queue on the SQS emulator of docker-compose.yml (one-shot, idempotent).

Runs in the dev image (boto3 and the runtime package), before any Airflow component starts, and
reads the queues and their visibility timeout through the runtime's own settings, so the queue
matches what the components will expect. Production queues are created by the CDK app.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

import boto3

from deploy_airflow_on_ecs_fargate.settings import ConfigurationError, load_broker_settings


def create_queues(queues: Mapping[str, str], visibility_timeout: int, region: str | None = None) -> list[str]:
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
            raise ConfigurationError(
                f"AIRFLOW_SQS_QUEUES names {url}, but the emulator created {response['QueueUrl']}:"
                " fix the account id or queue name in docker-compose.yml"
            )
        created.append(response["QueueUrl"])
    return created


def main() -> int:
    try:
        broker = load_broker_settings()
        urls = create_queues(broker.queues, broker.visibility_timeout, broker.region)
    except ConfigurationError as error:
        print(f"create_sqs_queue: error: {error}", file=sys.stderr)
        return 2
    for url in urls:
        print(f"queue ready: {url} (VisibilityTimeout {broker.visibility_timeout} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
