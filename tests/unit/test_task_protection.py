"""ECS task scale-in protection against a local HTTP server that answers like the ECS agent's
endpoint: success, refusals, HTTP errors and a hung endpoint; and the worker hooks that call it."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from deploy_airflow_on_ecs_fargate import task_protection
from deploy_airflow_on_ecs_fargate.task_protection import ProtectionError, TaskProtection

TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/airflow-dev/0123456789abcdef"


@pytest.fixture
def agent():
    """A fake ECS agent: records every request; `reply` chooses the answer."""
    calls: list[tuple[str, str, dict]] = []
    reply = {"status": 200, "body": None, "delay": 0.0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls.append((self.command, self.path, body))
            time.sleep(reply["delay"])
            answer = reply["body"] or {
                "protection": {
                    "ExpirationDate": "2026-11-26T18:00:00Z",
                    "ProtectionEnabled": body["ProtectionEnabled"],
                    "TaskArn": TASK_ARN,
                }
            }
            payload = json.dumps(answer).encode()
            self.send_response(reply["status"])
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/api/task", calls, reply
    server.shutdown()


def test_protect_and_unprotect_with_an_expiry(agent):
    uri, calls, _ = agent
    protection = TaskProtection(uri)
    protection.set(True, now=100)
    protection.set(False, now=200)
    assert calls == [
        ("PUT", "/api/task/task-protection/v1/state", {"ProtectionEnabled": True, "ExpiresInMinutes": 15}),
        ("PUT", "/api/task/task-protection/v1/state", {"ProtectionEnabled": False}),
    ]
    assert (protection.protected, protection.renewed_at) == (False, 200)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (200, {"failure": {"Arn": TASK_ARN, "Reason": "TASK_NOT_VALID"}}, "task protection refused: "),
        (400, {"error": {"Code": "InvalidParameterException", "Message": "bad"}}, "answered HTTP 400: "),
        (500, {"error": {"Code": "ServerException", "Message": "boom"}}, "answered HTTP 500: "),
    ],
)
def test_a_refusal_is_one_line(agent, status, body, message):
    uri, _, reply = agent
    reply.update(status=status, body=body)
    protection = TaskProtection(uri)
    with pytest.raises(ProtectionError) as error:
        protection.set(True, now=1)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not protection.protected


def test_a_hung_endpoint_times_out(agent):
    uri, _, reply = agent
    reply["delay"] = 2.0
    with pytest.raises(ProtectionError, match="did not answer"):
        TaskProtection(uri, timeout=0.3).set(True, now=1)


def test_outside_ecs_nothing_is_called():
    protection = TaskProtection(None)
    protection.follow(True, now=1)
    assert not protection.protected  # no agent: nothing to protect, and no error


def test_follow_protects_when_busy_renews_and_clears_when_idle(agent):
    uri, calls, _ = agent
    protection = TaskProtection(uri)
    protection.follow(True, now=0)
    protection.follow(True, now=60)  # already protected, not due: no call
    protection.follow(True, now=task_protection.RENEW_EVERY_SECONDS)  # renewal
    protection.follow(False, now=task_protection.RENEW_EVERY_SECONDS + 5)
    protection.follow(False, now=task_protection.RENEW_EVERY_SECONDS + 10)  # already off
    assert [body["ProtectionEnabled"] for _, _, body in calls] == [True, True, False]


def test_a_failing_endpoint_is_retried_after_a_pause_not_on_every_check(agent, caplog):
    uri, calls, reply = agent
    reply.update(status=500, body={"error": {"Code": "ServerException"}})
    protection = TaskProtection(uri)
    protection.follow(True, now=0)
    protection.follow(True, now=5)  # within the pause: no call
    assert len(calls) == 1
    assert "trying again in 30 s" in caplog.text
    reply.update(status=200, body=None)
    protection.follow(True, now=task_protection.RETRY_AFTER_SECONDS)
    assert len(calls) == 2 and protection.protected


def test_the_worker_protects_itself_on_receiving_a_task_and_follows_busy(agent, monkeypatch):
    # The hooks worker_lifecycle installs, with Celery's own request registries.
    from celery.worker import state

    from deploy_airflow_on_ecs_fargate import worker_lifecycle

    uri, calls, _ = agent
    monkeypatch.setattr(worker_lifecycle, "PROTECTION", TaskProtection(uri))
    worker_lifecycle._on_task_received(request=object())
    assert calls[-1][2] == {"ProtectionEnabled": True, "ExpiresInMinutes": 15}

    class Request:  # held in Celery's weak set while the task runs
        pass

    running = Request()
    state.active_requests.add(running)
    try:
        step = worker_lifecycle.ProtectionStep.__new__(worker_lifecycle.ProtectionStep)
        step.check()
        assert len(calls) == 1  # still busy, protected: nothing to do
    finally:
        state.active_requests.discard(running)
    step.check()
    assert calls[-1][2] == {"ProtectionEnabled": False}


@pytest.mark.filterwarnings("ignore::celery.platforms.SecurityWarning")  # CI runs as root
def test_a_real_worker_is_protected_while_it_runs_a_task_and_not_after(agent, monkeypatch):
    import threading

    from celery import Celery

    from deploy_airflow_on_ecs_fargate import worker_lifecycle

    uri, calls, _ = agent
    monkeypatch.setattr(worker_lifecycle, "PROTECTION", TaskProtection(uri))
    monkeypatch.setattr(worker_lifecycle, "PROTECTION_CHECK_SECONDS", 0.2)
    worker_lifecycle.install()
    app = Celery("protection-test", broker="memory://", set_as_current=False)
    app.conf.worker_hijack_root_logger = False

    @app.task
    def work():
        time.sleep(1.0)

    worker = app.Worker(
        pool="solo", concurrency=1, without_heartbeat=True, without_mingle=True, without_gossip=True, quiet=True
    )
    thread = threading.Thread(target=worker.start, daemon=True)
    thread.start()
    try:
        work.delay()
        deadline = time.monotonic() + 20
        while [body["ProtectionEnabled"] for *_, body in calls] != [True, False] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop(in_sighandler=False)
        thread.join(timeout=20)
    assert [body["ProtectionEnabled"] for *_, body in calls] == [True, False]
