"""The local SQS server: moto's, made durable like SQS.

moto keeps its queues in memory: a crash or restart of the emulator loses every message in it,
which SQS never does. After such a restart, task instances stayed queued with nothing left to run
them until Airflow's queued timeout (10 minutes) sent them again. So this server journals each
queue after every request that can change it (a send, a receive, a delete, a visibility change) and
restores the journal when it starts: the messages come back with their ids, receipt handles and
visibility, so a worker that received a message before the restart still deletes it afterwards and
nothing is delivered twice for it.

It also ends a long poll whose client has gone. moto holds a ReceiveMessage for its whole wait
even after the worker that sent it died or stopped, and hands it any message sent meanwhile: that
message then stayed invisible for the visibility timeout (600 s locally) with nobody to run it. Here
the wait is done by this server, which checks the client's connection twice a second.

`python -m local_stack.sqs_server --port PORT --journal FILE` (the stack's supervisor runs it).
It relies on moto's SQS model (`moto.sqs.models`); moto is pinned exactly, and
tests/unit/test_sqs_server.py kills the server and checks what comes back.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

# Requests after which a queue's messages may differ. Receives count: they change receipt handles
# and visibility, which a worker relies on to delete the message later.
MUTATING_ACTIONS = frozenset(
    {
        "CreateQueue",
        "DeleteQueue",
        "SetQueueAttributes",
        "PurgeQueue",
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
    }
)
MESSAGE_FIELDS = (
    "id",
    "body",
    "message_attributes",
    "system_attributes",
    "receipt_handle",
    "_old_receipt_handles",
    "sender_id",
    "sent_timestamp",
    "approximate_first_receive_timestamp",
    "approximate_receive_count",
    "visible_at",
    "delayed_until",
)


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def snapshot() -> list[dict]:
    """Every standard queue moto holds, with its messages."""
    from moto.sqs.models import sqs_backends

    queues = []
    for account, regions in list(sqs_backends.items()):
        for region, backend in list(regions.items()):
            for queue in list(backend.queues.values()):
                messages = [
                    {field: _encode(getattr(message, field, None)) for field in MESSAGE_FIELDS}
                    for message in list(queue._messages)
                ]
                queues.append(
                    {
                        "account": account,
                        "region": region,
                        "name": queue.name,
                        "visibility_timeout": int(getattr(queue, "visibility_timeout", 30)),
                        "messages": messages,
                    }
                )
    return queues


def restore(queues: list[dict]) -> int:
    """Put the journalled queues back into moto; return how many messages came back."""
    from moto.sqs.models import Message, sqs_backends

    restored = 0
    for saved in queues:
        backend = sqs_backends[saved["account"]][saved["region"]]
        queue = backend.create_queue(saved["name"], VisibilityTimeout=str(saved["visibility_timeout"]))
        messages = []
        for fields in saved["messages"]:
            message = Message(fields["id"], fields["body"])
            for field in MESSAGE_FIELDS:
                setattr(message, field, _decode(fields[field]))
            messages.append(message)
        queue._messages = messages
        restored += len(messages)
    return restored


class Journal:
    """The queues on disk, rewritten whole (write then rename) when they changed."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.last = ""

    def load(self) -> list[dict]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return []

    def save(self) -> None:
        with self.lock:
            text = json.dumps(snapshot())
            if text == self.last:
                return
            partial = self.path.with_name(f".{self.path.name}.partial")
            partial.write_text(text)
            partial.replace(self.path)
            self.last = text


def action(environ: dict) -> tuple[str, bytes]:
    """The SQS action a request asks for (JSON or query protocol), and its body for moto."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    if target:
        return target.rsplit(".", 1)[-1], body
    query = parse_qs(environ.get("QUERY_STRING", "")) | parse_qs(body.decode(errors="replace"))
    return (query.get("Action") or [""])[0], body


# How often a long poll checks whether its client is still there.
CLIENT_CHECK_SECONDS = 0.5


def client_gone(environ: dict) -> bool:
    """True when the client closed the connection (a read would return end of file)."""
    connection = environ.get("werkzeug.socket")
    if connection is None:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def find_queue(queue_url: str):
    from moto.sqs.models import sqs_backends

    account, name = queue_url.rstrip("/").split("/")[-2:]
    # Plain dict lookups: moto creates a backend on item access, never on these.
    for backend in (dict.get(sqs_backends, account) or {}).values():
        if name in backend.queues:
            return backend.queues[name]
    return None


def call(app, environ: dict, body: bytes) -> tuple[str, list, list[bytes]]:
    """Run one request through moto; return its status, headers and body."""
    environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    started: dict = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=headers)
        return lambda data: None

    chunks = list(app(environ, start_response))
    return started["status"], started["headers"], chunks


def long_poll(app, environ: dict, body: bytes) -> tuple[str, list, list[bytes]] | None:
    """A JSON ReceiveMessage with a wait, waited here: None when it is not one."""
    try:
        request = json.loads(body)
        wait = float(request.get("WaitTimeSeconds") or 0)
        queue = find_queue(request["QueueUrl"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if wait <= 0 or queue is None:
        return None
    now_body = json.dumps({**request, "WaitTimeSeconds": 0}).encode()
    deadline = time.monotonic() + wait
    while True:
        status, headers, chunks = call(app, environ, now_body)
        remaining = deadline - time.monotonic()
        if not status.startswith("200") or b'"Messages"' in b"".join(chunks) or remaining <= 0:
            return status, headers, chunks
        queue.wait_for_messages(min(CLIENT_CHECK_SECONDS, remaining))
        if client_gone(environ):
            # Checked right before receiving: nobody would read the answer, and receiving now would
            # hide a message for the visibility timeout.
            return status, headers, chunks


def journalled(app, journal: Journal):
    """WSGI middleware: long polls that end with their client, and the journal saved after every
    request that may change a queue."""

    def middleware(environ, start_response):
        name, body = action(environ)
        answer = long_poll(app, environ, body) if name == "ReceiveMessage" else None
        if answer is None:
            answer = call(app, environ, body)
        if name in MUTATING_ACTIONS:
            journal.save()
        status, headers, chunks = answer
        start_response(status, headers)
        return chunks

    return middleware


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local_stack.sqs_server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--journal", type=Path, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    journal = Journal(args.journal)
    restored = restore(journal.load())
    print(f"sqs_server: {restored} message(s) restored from {args.journal}", flush=True)
    journal.save()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, journalled(app, journal), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
