"""The local stack's own settings: where its state lives and the ports of the two services it adds
(PostgreSQL, SQS). Airflow's own ports and listen address are the runtime contract's variables
(`AIRFLOW__API__PORT=8081 make up`), exactly as in a container.

Every setting comes from an environment variable, so `make up`, `make test` and a second stack
side by side (the integration tests) differ only by their environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from local_stack.paths import REPO_ROOT


class LocalSettingsError(ValueError):
    """A malformed LOCAL_STACK_* variable; the message is one line."""


@dataclass(frozen=True)
class LocalSettings:
    home: Path
    postgres_port: int
    sqs_port: int
    # How long `make down` lets a worker finish its running tasks (warm shutdown) before it kills
    # it: longer than Fargate's 120 s, because a developer's task is usually worth waiting for.
    worker_stop_timeout: float
    # Where the components send Airflow's kept metrics (StatsD over UDP on 127.0.0.1); None: no
    # metrics, as no collector runs locally unless you start one (docs/decisions/0070).
    statsd_port: int | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> LocalSettings:
        env = os.environ if environ is None else environ
        return cls(
            home=Path(env.get("LOCAL_STACK_HOME") or REPO_ROOT / ".local").resolve(),
            postgres_port=_port(env, "LOCAL_STACK_POSTGRES_PORT", 15432),
            # ElasticMQ's port, as in the seed's docker-compose file.
            sqs_port=_port(env, "LOCAL_STACK_SQS_PORT", 9324),
            worker_stop_timeout=_seconds(env, "LOCAL_STACK_WORKER_STOP_TIMEOUT", 600),
            statsd_port=_port(env, "LOCAL_STACK_STATSD_PORT", 0, protocol="UDP") or None,
        )


def _port(env: Mapping[str, str], name: str, default: int, protocol: str = "TCP") -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise LocalSettingsError(f"{name} is not a {protocol} port: got {raw!r}, expected 1 to 65535")
    return int(raw)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise LocalSettingsError(f"{name} is not a number of seconds: got {raw!r}")
    return value
