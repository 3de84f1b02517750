"""moto's server, started once per session on a free port and reset before each test, stands in
for AWS; `deployed` seeds it with a deployed dev stack (tests/cli/standin.py). The CLI runs in
process (typer's runner) with AWS_ENDPOINT_URL pointing every client at the server."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner, Result

from airflow_ecs_cli import logs as logs_module
from airflow_ecs_cli import run_task as run_task_module
from airflow_ecs_cli.cli import app
from tests.cli import standin
from tests.conftest import free_port


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_environment(moto_endpoint, monkeypatch, tmp_path) -> dict[str, str]:
    """A clean slate on the server, and an environment with nothing of the developer's AWS set-up."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AIRFLOW_ECS_PROFILE",
        "AIRFLOW_ECS_SETTINGS",
    ):
        monkeypatch.delenv(name, raising=False)
    environment = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_REGION": standin.REGION,
        "AWS_DEFAULT_REGION": standin.REGION,
        "AWS_ACCESS_KEY_ID": standin.CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": standin.CREDENTIALS["aws_secret_access_key"],
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        # Read by moto when a service is created: its tasks count as running.
        "MOTO_ECS_SERVICE_RUNNING": "1",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    # Polls and the last-lines grace period do not wait in tests.
    monkeypatch.setattr(run_task_module, "pause", lambda seconds: None)
    monkeypatch.setattr(logs_module, "pause", lambda seconds: None)
    return environment


@pytest.fixture
def clients(aws_environment, moto_endpoint) -> standin.Clients:
    return standin.Clients(moto_endpoint)


@pytest.fixture
def deployed(clients) -> standin.Deployed:
    return standin.seed_everything(clients)


@dataclass
class Cli:
    runner: CliRunner

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def cli(aws_environment) -> Cli:
    return Cli(CliRunner())
