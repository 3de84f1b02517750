"""Shared fixtures: a valid runtime environment and a throwaway embedded PostgreSQL server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

SECRET = "s" * 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def valid_environment() -> dict[str, str]:
    """Everything a worker needs (the most demanding component), per docs/runtime-contract.md."""
    return {
        "AIRFLOW_DB_HOST": "db.example.internal",
        "AIRFLOW_DB_PORT": "5432",
        "AIRFLOW_DB_USER": "airflow",
        "AIRFLOW_DB_PASSWORD": "p@ss:w/rd#1",
        "AIRFLOW_DB_NAME": "airflow",
        "AIRFLOW_FERNET_SEED": "f" * 32,
        "AIRFLOW__API_AUTH__JWT_SECRET": SECRET,
        "AIRFLOW__API__SECRET_KEY": SECRET,
        "AIRFLOW_API_SERVER_URL": "http://api-server:8080",
        "AIRFLOW_SQS_QUEUES": '{"default": "https://sqs.us-east-1.amazonaws.com/123456789012/airflow-default"}',
        "AWS_REGION": "us-east-1",
    }


@pytest.fixture(scope="session")
def postgres_port() -> int:
    """A real PostgreSQL server (the local stack's own code), on a free port, for this session.

    Not under pytest's temp root, which pytest keeps at 0700: as root, the server runs as its own
    system user, which must be able to reach its data folder."""
    import shutil
    import tempfile

    from local_stack import postgres

    home = Path(tempfile.mkdtemp(prefix="pg-test-"))
    port = free_port()
    postgres.start(home / "data", port=port, log_file=home / "server.log")
    yield port
    postgres.stop(home / "data")
    shutil.rmtree(home, ignore_errors=True)


# `make test` runs on two xdist workers with --dist loadgroup: the tests of one directory below
# share an expensive session fixture (the synthesized templates, the local stack, moto's server),
# so each directory's tests run on one worker and the fixture is built once.
SHARED_SESSION_DIRECTORIES = ("infrastructure", "integration", "cli")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        directory = item.path.relative_to(REPO_ROOT / "tests").parts[0]
        if directory in SHARED_SESSION_DIRECTORIES:
            item.add_marker(pytest.mark.xdist_group(directory))
