"""Plain Airflow beside the project's stack, for the benchmark's baseline (`make benchmark-baseline`).

The same pinned packages from the same virtualenv (uv.lock), the same DAGs and executor (Celery on a
moto SQS server, PostgreSQL), but none of this project's runtime code in the Airflow processes: no
entrypoint, no worker preload, no Celery config module. Airflow's own default Celery config is
driven by ``AIRFLOW__`` variables, with the two obvious tunings a user would make (scheduler idle
sleep 0.2 s, SQS polling interval 0.1 s) and the project's concurrency and parallelism. Each
component is started as the plain `airflow` command a user would type.

Only the broker (the stack's moto SQS server, journalled the same way so both sides pay the same
broker cost) and the embedded PostgreSQL are the local stack's: neither runs Airflow or project
code. Everything lives under its own home and ports, so a running `make up` stack is not disturbed,
and `stop` ends every process it started (also those left by an interrupted earlier run).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from local_stack import broker, postgres
from local_stack.paths import REPO_ROOT, StackPaths
from local_stack.processes import running_pid, start_detached, stop_group

BROKER = "sqs"
# Stop order: what creates work first, the api-server (the workers' execution API) last.
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "worker", "api-server")
COMMANDS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
    "worker": ["celery", "worker"],
}
ADMIN = ("admin", "admin")
# The two obvious tunings of decision 0002: without them one task takes 2-3 s instead of about 0.6 s.
TUNINGS = {
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__POLLING_INTERVAL": "0.1",
}
# What bounds how many tasks run at once: the baseline copies the project stack's values.
LOAD_OPTIONS = (
    "AIRFLOW__CORE__PARALLELISM",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY",
)
VISIBILITY_TIMEOUT = 600
START_TIMEOUT_SECONDS = 240
WORKER_STOP_SECONDS = 30
OTHER_STOP_SECONDS = 15
# Names the Airflow processes must never see: the project's runtime and the local stack.
PROJECT_MODULES = ("deploy_airflow_on_ecs_fargate", "local_stack", "airflow_ecs")


class BaselineError(Exception):
    """The baseline could not start; the message is one line."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Ports:
    api: int
    postgres: int
    sqs: int
    worker_logs: int
    trigger_logs: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())


def user_shell(environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without any Airflow, local stack or AWS setting."""
    return {
        name: value
        for name, value in environ.items()
        if not name.startswith(("AIRFLOW", "LOCAL_STACK", "AWS_")) and name != "PYTHONPATH"
    }


def baseline_environment(
    paths: StackPaths, ports: Ports, load: Mapping[str, str], shell: Mapping[str, str]
) -> dict[str, str]:
    """Plain Airflow's configuration, all through standard ``AIRFLOW__`` variables."""
    database = f"{postgres.USER}:{postgres.PASSWORD}@127.0.0.1:{ports.postgres}/{postgres.DATABASE}"
    keys = _secrets(paths)
    return {
        **user_shell(shell),
        "AIRFLOW_HOME": str(paths.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": keys["secret_key"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN[0]}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(paths.home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{database}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{database}",
        "AIRFLOW__CELERY__BROKER_URL": "sqs://",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__REGION": broker.REGION,
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__PREDEFINED_QUEUES": json.dumps(
            {"default": {"url": broker.queue_url(ports.sqs)}}
        ),
        "AWS_ENDPOINT_URL_SQS": broker.endpoint(ports.sqs),
        "AWS_DEFAULT_REGION": broker.REGION,
        "AWS_ACCESS_KEY_ID": broker.CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": broker.CREDENTIALS["aws_secret_access_key"],
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(ports.api),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{ports.api}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports.worker_logs),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports.trigger_logs),
        **TUNINGS,
        **{name: load[name] for name in LOAD_OPTIONS},
    }


def _secrets(paths: StackPaths) -> dict[str, str]:
    import base64

    file = paths.home / "secrets.json"
    if file.exists():
        return json.loads(file.read_text())
    values = {
        "fernet_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "jwt_secret": secrets.token_urlsafe(48),
        "secret_key": secrets.token_urlsafe(48),
    }
    paths.home.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(values))
    file.chmod(0o600)
    return values


def airflow_command(*args: str) -> list[str]:
    """The `airflow` console script of this virtualenv, as a user would run it."""
    return [str(Path(sys.executable).parent / "airflow"), *args]


class BaselineStack:
    """Start, measure and stop plain Airflow. Use as a context manager: leaving it stops everything."""

    def __init__(self, home: Path, load: Mapping[str, str], shell: Mapping[str, str] | None = None):
        self.paths = StackPaths(home)
        self.ports = Ports.free()
        self.environment = baseline_environment(self.paths, self.ports, load, os.environ if shell is None else shell)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def parts(self) -> tuple[str, ...]:
        return (*COMPONENTS, BROKER)

    def __enter__(self) -> BaselineStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        self.stop()  # whatever an interrupted earlier run left
        self.paths.create()
        (self.paths.home / "passwords.json").write_text(json.dumps({ADMIN[0]: ADMIN[1]}))
        try:
            postgres.start(self.paths.pgdata, port=self.ports.postgres, log_file=self.paths.postgres_log)
        except postgres.PostgresError as error:
            raise BaselineError(f"baseline PostgreSQL: {error}") from None
        self._start(BROKER, broker.server_command(sys.executable, self.ports.sqs, self.paths.home / "sqs.json"))
        try:
            broker.wait_until_serving(self.ports.sqs, timeout=30)
        except TimeoutError as error:
            raise BaselineError(f"baseline {error}: see {self.paths.log_file(BROKER)}") from None
        broker.ensure_queue(self.ports.sqs, visibility_timeout=VISIBILITY_TIMEOUT)
        self._migrate()
        for name in reversed(COMPONENTS):
            self._start(name, airflow_command(*COMMANDS[name]))
        self._wait_healthy()

    def _start(self, name: str, command: list[str]) -> None:
        start_detached(
            command,
            log_file=self.paths.log_file(name),
            pid_file=self.paths.pid_file(name),
            env=self.environment,
            cwd=self.paths.home,
        )

    def _migrate(self) -> None:
        log_file = self.paths.log_file("migrate")
        with open(log_file, "ab") as log:
            result = subprocess.run(
                airflow_command("db", "migrate"),
                env=self.environment,
                cwd=self.paths.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=300,
                check=False,
            )
        if result.returncode != 0:
            raise BaselineError(f"baseline `airflow db migrate` failed (exit {result.returncode}): see {log_file}")

    def _wait_healthy(self) -> None:
        """Until the api-server reports the scheduler, triggerer and dag-processor healthy."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            for name in COMPONENTS:
                if running_pid(self.paths.pid_file(name)) is None:
                    raise BaselineError(f"baseline {name} exited during start: see {self.paths.log_file(name)}")
            if health_is_green(self.url):
                return
            if time.monotonic() > deadline:
                raise BaselineError(f"baseline not healthy after {START_TIMEOUT_SECONDS} s: logs in {self.paths.logs}")
            time.sleep(1)

    def stop(self) -> None:
        for name in (*COMPONENTS, BROKER):
            timeout = WORKER_STOP_SECONDS if name == "worker" else OTHER_STOP_SECONDS
            stop_group(self.paths.pid_file(name), timeout=timeout)
        postgres.stop(self.paths.pgdata)


def health_is_green(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        return False
    wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return all((body.get(part) or {}).get("status") == "healthy" for part in wanted)
