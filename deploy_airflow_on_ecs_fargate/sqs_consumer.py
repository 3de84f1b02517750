"""The worker's SQS consumer keeps polling through broker outages, and records its polls.

kombu 5.7's asynchronous SQS consumer chains each ReceiveMessage to the next through promises. A
poll that fails breaks the chain: for a refused connection, a timeout or a 5xx, kombu's HTTP layer
answers ``[]`` instead of a parsed reply and ``Channel._on_messages_ready`` fails on ``[].get``; an
HTTP error status raises. The next poll is then never scheduled. Where the error surfaces decides
the rest: the worker either stops with "Unrecoverable error", or lives on without ever polling again
(seen on the local stack after an SQS restart: 15 visible messages untouched for 6 minutes while
the old file-age health check stayed green).

``install()`` replaces the polling step of kombu's SQS channel (``Channel._schedule_queue``) so that:
- every poll, whatever happens to it, schedules the next one: after a failure with a backoff from
  0.5 s doubling to 5 s, logged once when polling starts failing and once when it works again;
- ``POLLS`` records when the consumer last got an answer from SQS (or last had every slot busy,
  when it does not poll by design). The heartbeat bootstep writes that to the heartbeat file and the
  health check judges it (worker_heartbeat, health).

kombu is pinned exactly (uv.lock); tests/unit/test_sqs_consumer.py runs a real worker against a
real SQS emulator that is stopped and started again, so an upgrade that changes these methods fails
there.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0


class PollFailed(Exception):
    """A ReceiveMessage that got no usable answer."""


@dataclass
class PollRecord:
    """What this process's consumer last achieved (wall-clock times, for the heartbeat file)."""

    # When SQS last answered a poll, or the last moment every slot was busy.
    ok_at: float | None = None
    # Every slot was busy at the last look: the consumer does not poll, by design (prefetch).
    busy: bool = False
    failing_since: float | None = None
    error: str | None = None
    failures: int = 0

    def started(self, now: float) -> None:
        """The consumer starts: its first poll is on its way and nothing has failed yet."""
        self.ok_at, self.busy, self.failing_since, self.error, self.failures = now, False, None, None, 0

    def polling(self) -> None:
        self.busy = False

    def answered(self, now: float) -> None:
        if self.failing_since is not None:
            log.warning("SQS answers again: polling resumed after %.0f s of failed polls", now - self.failing_since)
        self.started(now)

    def saturated(self, now: float) -> None:
        """Every worker slot is taken. A poll that failed before still counts as failing."""
        self.busy = True
        if self.failing_since is None:
            self.ok_at = now

    def failed(self, error: str, now: float) -> float:
        """Record a failed poll; return the seconds to wait before the next one."""
        if self.failing_since is None:
            self.failing_since = now
            log.warning("SQS poll failed (%s): retrying with backoff until SQS answers", error)
        self.failures += 1
        self.error = error
        return min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** (self.failures - 1))


POLLS = PollRecord()


def describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _schedule_queue(self, queue) -> None:
    """kombu's Channel._schedule_queue and _get_bulk_async in one, with a poll chain that survives a
    failed poll: every outcome of the ReceiveMessage leads to exactly one next poll."""
    if queue not in self._active_queues:
        return
    if not self.qos.can_consume():
        POLLS.saturated(time.time())
        self._loop1(queue)
        return
    POLLS.polling()
    from vine import promise

    def answered(reply) -> None:
        try:
            if not isinstance(reply, dict):
                # kombu's answer to a refused connection, a timeout or a 5xx: a failed poll, not an empty one.
                raise PollFailed("no answer from SQS (connection refused, timeout or server error)")
            POLLS.answered(time.time())
            received = self._on_messages_ready(queue_url, queue, reply)
        except Exception as error:
            _poll_failed(self, queue, error)
            return
        self._loop1(queue, received)

    try:
        queue_url = self._new_queue(queue)
        name = self.canonical_queue_name(queue)
        self._get_from_sqs(
            queue_name=name,
            queue_url=queue_url,
            connection=self.asynsqs(queue=name),
            count=self._get_message_estimate(),
            # An HTTP error status raises inside kombu's reply parsing, which throws into this promise.
            callback=promise(answered, on_error=lambda error: _poll_failed(self, queue, error)),
        )
    except Exception as error:
        _poll_failed(self, queue, error)


def _poll_failed(channel, queue, error: BaseException) -> None:
    delay = POLLS.failed(describe(error), time.time())
    channel.hub.call_later(delay, channel._schedule_queue, queue)


def install() -> None:
    """Replace kombu's SQS polling step in this process (idempotent)."""
    from kombu.transport.SQS import Channel

    # The method is looked up on the class at every poll, so replacing it there is enough.
    setattr(Channel, "_schedule_queue", _schedule_queue)  # noqa: B010
