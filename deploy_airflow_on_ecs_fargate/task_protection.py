"""ECS task scale-in protection: a worker that runs tasks cannot be stopped by a scale-in.

On ECS every task has an agent endpoint (`$ECS_AGENT_URI`); `PUT /task-protection/v1/state` with
`{"ProtectionEnabled": true, "ExpiresInMinutes": N}` protects the calling task from scale-in, and
from being replaced by a deployment, until it clears the flag or the expiry passes (Amazon ECS
developer guide, "Amazon ECS task scale-in protection endpoint"). The worker protects itself as
soon as it receives a task and renews the protection while it is busy; once idle it clears it, so
autoscaling can remove it. The expiry bounds the harm of a hung worker: it stops renewing, and
after `EXPIRES_IN_MINUTES` it can be scaled in like any idle one.

Outside ECS (no `ECS_AGENT_URI`: the local stack, compose) every call is a no-op. An endpoint that
fails or times out is logged and retried at the next renewal; it never stops the worker.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from deploy_airflow_on_ecs_fargate import contract

log = logging.getLogger(__name__)

PATH = "/task-protection/v1/state"
# A renewal every 5 minutes keeps a busy worker protected; a hung one is unprotected 15 minutes
# after its last renewal.
EXPIRES_IN_MINUTES = 15
RENEW_EVERY_SECONDS = 5 * 60
TIMEOUT_SECONDS = 5.0
# After a failed call, wait this long before the next one: calls run on the worker's event loop.
RETRY_AFTER_SECONDS = 30.0


class ProtectionError(Exception):
    """The agent refused or did not answer; the message is one line."""


@dataclass
class TaskProtection:
    """The protection of this task, as last set through the agent endpoint."""

    agent_uri: str | None
    timeout: float = TIMEOUT_SECONDS
    protected: bool = False
    renewed_at: float = 0.0
    failed_at: float | None = None

    @classmethod
    def from_environment(cls) -> TaskProtection:
        return cls(os.environ.get(contract.ECS_AGENT_URI.name) or None)

    def set(self, enabled: bool, now: float) -> None:
        """Protect (with the expiry) or unprotect; raise ProtectionError when the agent fails."""
        if self.agent_uri is None:
            return
        body: dict[str, object] = {"ProtectionEnabled": enabled}
        if enabled:
            body["ExpiresInMinutes"] = EXPIRES_IN_MINUTES
        request = urllib.request.Request(
            self.agent_uri.rstrip("/") + PATH,
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise ProtectionError(
                f"task protection endpoint answered HTTP {error.code}: {_reason(error.read())}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise ProtectionError(
                f"task protection endpoint did not answer: {getattr(error, 'reason', error)}"
            ) from None
        if "error" in answer or "failure" in answer:
            raise ProtectionError(f"task protection refused: {_reason(json.dumps(answer).encode())}")
        self.protected, self.renewed_at = enabled, now

    def follow(self, busy: bool, now: float) -> None:
        """Bring the protection in line with whether the worker has tasks; renew while busy."""
        due = busy and self.protected and now - self.renewed_at >= RENEW_EVERY_SECONDS
        if busy == self.protected and not due:
            return
        if self.failed_at is not None and now - self.failed_at < RETRY_AFTER_SECONDS:
            return
        try:
            self.set(busy, now)
        except ProtectionError as problem:
            # The worker goes on; a later check tries again.
            self.failed_at = now
            log.warning("%s (the worker keeps running; trying again in %.0f s)", problem, RETRY_AFTER_SECONDS)
        else:
            self.failed_at = None
            if not due:
                log.info("scale-in protection %s", "on" if busy else "off")


def _reason(raw: bytes) -> str:
    text = raw.decode(errors="replace").strip()
    return (text.splitlines() or ["no details"])[0][:300]
