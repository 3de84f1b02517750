"""docker-compose.yml: valid for Compose, and a mirror of production (docs/runtime-contract.md)."""

from __future__ import annotations

import json
import re
import subprocess
from urllib.parse import urlsplit

import pytest

from .helpers import COMPONENTS, COMPOSE_FILE, ENTRYPOINT, HEALTH_COMMAND, ROOT, tool

INIT_SERVICE = "airflow-init"
QUEUE_SERVICE = "sqs-queue"
# Required by every command (docs/runtime-contract.md, "Environment"); secrets need 32 characters.
REQUIRED_ENVIRONMENT = (
    "AIRFLOW_DB_HOST",
    "AIRFLOW_DB_PORT",
    "AIRFLOW_DB_USER",
    "AIRFLOW_DB_PASSWORD",
    "AIRFLOW_DB_NAME",
    "AIRFLOW_FERNET_SEED",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW_API_SERVER_URL",
)
SECRETS = ("AIRFLOW_FERNET_SEED", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY")
QUEUE_CONSUMERS = ("scheduler", "worker")


def compose(*args: str, file=COMPOSE_FILE) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("docker-compose"), "--file", str(file), "--project-directory", str(ROOT), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def services() -> dict:
    """The services as Compose resolves them (anchors merged, defaults filled in)."""
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def test_compose_file_is_valid():
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_validation_rejects_a_dependency_on_an_undefined_service(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE_FILE.read_text().replace(
            "condition: service_healthy",
            "condition: service_healthy\n      no-such-service:\n        condition: service_started",
            1,
        )
    )
    result = compose("config", "--quiet", file=broken)
    assert result.returncode != 0
    assert "no-such-service" in result.stderr


def test_defines_every_component_and_the_backing_services(services):
    assert set(services) == {*COMPONENTS, INIT_SERVICE, QUEUE_SERVICE, "postgres", "sqs"}


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_starts_through_the_entrypoint(services, component):
    assert services[component]["command"] == [*ENTRYPOINT, component]
    assert services[component].get("entrypoint") is None  # the image's tini stays PID 1


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_has_the_contract_health_check(services, component):
    healthcheck = services[component].get("healthcheck", {})
    assert not healthcheck.get("disable")
    assert healthcheck["test"] == ["CMD", *HEALTH_COMMAND, component]
    # the health command answers within 5 s; a shorter timeout would flap
    assert re.fullmatch(r"\d+s", healthcheck["timeout"]) and int(healthcheck["timeout"][:-1]) >= 5


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_waits_for_the_init_service_to_succeed(services, component):
    assert services[component]["depends_on"][INIT_SERVICE]["condition"] == "service_completed_successfully"


def test_init_service_is_the_one_shot_deploy_task(services):
    init = services[INIT_SERVICE]
    assert init["command"] == [*ENTRYPOINT, "init"]
    assert init["restart"] == "no"
    assert init["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"


@pytest.mark.parametrize("component", QUEUE_CONSUMERS)
def test_queue_consumers_wait_for_the_queue(services, component):
    assert services[component]["depends_on"][QUEUE_SERVICE]["condition"] == "service_completed_successfully"


def test_queue_service_creates_the_queues_the_components_use(services):
    queue = services[QUEUE_SERVICE]
    assert queue["depends_on"]["sqs"]["condition"] == "service_healthy"
    assert services["sqs"]["healthcheck"]["test"][0] == "CMD"
    script = next(volume for volume in queue["volumes"] if volume["target"] == queue["entrypoint"][-1])
    assert (ROOT / "build" / "compose" / "create_sqs_queue.py").samefile(script["source"])
    for component in QUEUE_CONSUMERS:
        environment = services[component]["environment"]
        assert environment["AIRFLOW_SQS_QUEUES"] == queue["environment"]["AIRFLOW_SQS_QUEUES"]
        assert environment["AIRFLOW_SQS_VISIBILITY_TIMEOUT"] == queue["environment"]["AIRFLOW_SQS_VISIBILITY_TIMEOUT"]
        assert "default" in json.loads(environment["AIRFLOW_SQS_QUEUES"])
        assert urlsplit(environment["AWS_ENDPOINT_URL_SQS"]).hostname == "sqs"


@pytest.mark.parametrize("service", [*COMPONENTS, INIT_SERVICE])
def test_airflow_services_have_the_contract_environment(services, service):
    environment = services[service]["environment"]
    missing = [name for name in REQUIRED_ENVIRONMENT if not environment.get(name)]
    assert not missing
    assert all(len(environment[name]) >= 32 for name in SECRETS)
    api = urlsplit(environment["AIRFLOW_API_SERVER_URL"])
    assert (api.hostname, api.port) == ("api-server", 8080)
    assert environment["AIRFLOW_DB_HOST"] == "postgres"


@pytest.mark.parametrize("service", [*COMPONENTS, INIT_SERVICE])
def test_airflow_services_run_the_dev_image_with_the_code_mounted(services, service):
    definition = services[service]
    assert definition["build"]["dockerfile"] == "build/dev/Containerfile"
    assert (ROOT / definition["build"]["dockerfile"]).is_file()
    mounts = {volume["target"]: volume for volume in definition["volumes"]}
    for folder in ("dags", "plugins", "deploy_airflow_on_ecs_fargate"):
        mount = mounts[f"/opt/airflow/{folder}"]
        assert (mount["type"], mount["source"]) == ("bind", str(ROOT / folder))


def test_api_server_is_published_on_8080(services):
    ports = services["api-server"]["ports"]
    assert any(port["target"] == 8080 and port["published"] == "8080" for port in ports)
