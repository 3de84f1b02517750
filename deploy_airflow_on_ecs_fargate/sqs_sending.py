"""A task the scheduler cannot send because SQS does not answer is sent again, not failed.

Airflow's Celery executor sends each task within ``[celery] operation_timeout`` (1 s). A send that
times out is sent again on the executor's next loops (up to ``[celery] task_publish_max_retries``);
any other error fails the task at once, as if it had run and failed ("killed externally"): a try is
spent, and a task without retries fails. While SQS is unreachable a send ends either way, depending
on where the time runs out. Seen on the local stack when its SQS server restarted: 1 of 35 sends
failed its task with a connection error raised inside kombu's queue declare step.

``install()`` wraps the provider's ``send_workload_to_executor`` so that a send that failed on the
connection to SQS is reported as the timeout it amounts to: the executor keeps the task and sends it
again. A refusal from SQS itself (access denied, no such queue) still fails at once.
"""

from __future__ import annotations

# The connection-level errors: the request did not get an answer from SQS.
CONNECTION_ERROR_NAMES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "HTTPClientError",
    }
)

_original = None


def unreachable(error: BaseException) -> bool:
    """True for an error that says SQS did not answer (not that it refused)."""
    from kombu.exceptions import OperationalError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationalError) or type(current).__name__ in CONNECTION_ERROR_NAMES:
            return True
        current = current.__cause__ or current.__context__
    return False


def send_workload_to_executor(workload_tuple):
    """The provider's function, with an unreachable SQS reported as a timeout."""
    from airflow.providers.celery.executors import celery_executor_utils as utils
    from airflow.sdk.exceptions import AirflowTaskTimeout

    original = _original or utils.send_workload_to_executor
    key, args, result = original(workload_tuple)
    if isinstance(result, utils.ExceptionWithTraceback) and unreachable(result.exception):
        timeout = AirflowTaskTimeout(f"SQS did not answer: {result.exception}")
        result = utils.ExceptionWithTraceback(timeout, result.traceback)
    return key, args, result


def install() -> None:
    """Make the Celery executor use the function above (idempotent)."""
    global _original
    from airflow.providers.celery.executors import celery_executor_utils as utils

    if utils.send_workload_to_executor is not send_workload_to_executor:
        _original = utils.send_workload_to_executor
        utils.send_workload_to_executor = send_workload_to_executor
