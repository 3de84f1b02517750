"""SQS broker: encrypted, TLS-only, visibility timeout shared with the scheduler and workers."""

from __future__ import annotations

import json

from tests.infrastructure.templates import container, resources


def test_queue_visibility_timeout_matches_what_scheduler_and_worker_are_told(raw_templates):
    template = raw_templates["dev"]
    ((queue_id, queue),) = resources(template, "AWS::SQS::Queue").items()
    props = queue["Properties"]
    assert props["VisibilityTimeout"] == 21600
    assert props["SqsManagedSseEnabled"] is True
    assert props["ReceiveMessageWaitTimeSeconds"] == 20
    for component in ("scheduler", "worker"):
        environment = {e["Name"]: e["Value"] for e in container(template, component)["Environment"]}
        assert environment["AIRFLOW_SQS_VISIBILITY_TIMEOUT"] == str(props["VisibilityTimeout"])
        # {"default": <queue url>}: Fn::Join of the JSON text around the queue's Ref (its URL).
        head, ref, tail = environment["AIRFLOW_SQS_QUEUES"]["Fn::Join"][1]
        assert ref == {"Ref": queue_id}
        assert json.loads(head + "URL" + tail) == {"default": "URL"}


def test_queue_policy_refuses_plain_http(raw_templates):
    (policy,) = resources(raw_templates["dev"], "AWS::SQS::QueuePolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
