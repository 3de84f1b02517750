"""A task the scheduler cannot send because SQS does not answer is sent again, not failed."""

from __future__ import annotations

import botocore.exceptions
import pytest
from kombu.exceptions import OperationalError

from deploy_airflow_on_ecs_fargate import airflow_cli, sqs_sending


def connection_error_inside_kombu() -> BaseException:
    """What kombu raised while the local SQS server restarted: its own error over botocore's."""
    try:
        try:
            raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9324/")
        except botocore.exceptions.EndpointConnectionError as error:
            raise OperationalError(str(error)) from error
    except OperationalError as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        connection_error_inside_kombu(),
        botocore.exceptions.EndpointConnectionError(endpoint_url="https://sqs.us-east-1.amazonaws.com/"),
        botocore.exceptions.ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com/"),
    ],
)
def test_an_error_that_says_sqs_did_not_answer_is_unreachable(error):
    assert sqs_sending.unreachable(error)


@pytest.mark.parametrize(
    "error",
    [
        botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "SendMessage"),
        ValueError("a workload that does not serialize"),
    ],
)
def test_a_refusal_or_a_bug_is_not(error):
    assert not sqs_sending.unreachable(error)


@pytest.fixture
def provider(monkeypatch):
    from airflow.providers.celery.executors import celery_executor_utils as utils

    monkeypatch.setattr(sqs_sending, "_original", None)
    monkeypatch.setattr(utils, "send_workload_to_executor", utils.send_workload_to_executor)
    return utils


def test_the_executor_gets_a_timeout_for_an_unreachable_sqs_and_the_error_for_the_rest(provider, monkeypatch):
    from airflow.sdk.exceptions import AirflowTaskTimeout

    outcomes = {
        "down": provider.ExceptionWithTraceback(connection_error_inside_kombu(), "traceback"),
        "denied": provider.ExceptionWithTraceback(
            botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "SendMessage"),
            "traceback",
        ),
        "sent": "an AsyncResult",
    }
    monkeypatch.setattr(provider, "send_workload_to_executor", lambda item: (item[0], item[1], outcomes[item[0]]))
    sqs_sending.install()
    sqs_sending.install()  # idempotent: wrapped once
    assert provider.send_workload_to_executor is sqs_sending.send_workload_to_executor

    _, _, down = provider.send_workload_to_executor(("down", "args", "default", None))
    assert isinstance(down.exception, AirflowTaskTimeout)  # the executor sends it again on its next loop
    assert "SQS did not answer" in str(down.exception) and down.traceback == "traceback"
    _, _, denied = provider.send_workload_to_executor(("denied", "args", "default", None))
    assert isinstance(denied.exception, botocore.exceptions.ClientError)  # fails the task at once, as before
    assert provider.send_workload_to_executor(("sent", "args", "default", None)) == ("sent", "args", "an AsyncResult")


def test_the_executor_looks_the_function_up_where_install_replaces_it():
    # The premise: the executor imports the function from the module at call time, and retries a
    # workload whose send timed out (AirflowTaskTimeout) instead of failing it.
    import inspect

    from airflow.providers.celery.executors import celery_executor

    sending = inspect.getsource(celery_executor.CeleryExecutor._send_workloads_to_celery)
    assert "from airflow.providers.celery.executors.celery_executor_utils import send_workload_to_executor" in sending
    retrying = inspect.getsource(celery_executor.CeleryExecutor._send_workloads)
    assert "result.exception, AirflowTaskTimeout" in retrying


def test_only_the_scheduler_gets_the_sending_hook(provider, monkeypatch):
    installed = []
    monkeypatch.setattr(sqs_sending, "install", lambda: installed.append(True))
    airflow_cli.install_hooks(["celery", "worker"])
    assert installed == []
    airflow_cli.install_hooks(["scheduler"])
    assert installed == [True]
