"""docker-compose.yml: valid for Compose, and a mirror of production (docs/runtime-contract.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from urllib.parse import urlsplit

import pytest

from deploy_airflow_on_ecs_fargate import contract
from tests import wiring

from .helpers import COMPONENTS, COMPOSE_FILE, DEV_CONTAINERFILE, ENTRYPOINT, HEALTH_COMMAND, ROOT, tool

INIT_SERVICE = "airflow-init"
QUEUE_SERVICE = "sqs-queue"
QUEUE_CONSUMERS = ("scheduler", "worker")


def seconds(duration: str) -> int:
    """A Compose (Go) duration such as '2m0s' or '30s' in seconds."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match and duration, duration
    hours, minutes, secs = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + secs


def compose(*args: str, file=COMPOSE_FILE, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # Interpolation reads the caller's environment: give Compose only what the test chooses.
    return subprocess.run(
        [tool("docker-compose"), "--file", str(file), "--project-directory", str(ROOT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **(environment or {})},
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
def test_component_has_the_contract_health_check_and_stop_timeout(services, component):
    healthcheck = services[component].get("healthcheck", {})
    assert not healthcheck.get("disable")
    assert healthcheck["test"] == ["CMD", *HEALTH_COMMAND, component]
    assert seconds(healthcheck["timeout"]) == contract.HEALTH_TIMEOUT_SECONDS
    assert seconds(healthcheck["interval"]) == contract.HEALTH_INTERVAL_SECONDS
    assert seconds(healthcheck["start_period"]) == contract.HEALTH_START_PERIOD_SECONDS
    assert healthcheck["retries"] == contract.HEALTH_RETRIES
    grace = seconds(services[component].get("stop_grace_period", "10s"))  # Compose's default: 10 s
    assert grace == contract.component(component).stop_timeout_seconds


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
    script = next(volume for volume in queue["volumes"] if volume["target"] == queue["command"][-1])
    assert (ROOT / "build" / "compose" / "create_sqs_queue.py").samefile(script["source"])
    for component in QUEUE_CONSUMERS:
        environment = services[component]["environment"]
        assert environment["AIRFLOW_SQS_QUEUES"] == queue["environment"]["AIRFLOW_SQS_QUEUES"]
        assert environment["AIRFLOW_SQS_VISIBILITY_TIMEOUT"] == queue["environment"]["AIRFLOW_SQS_VISIBILITY_TIMEOUT"]
        assert "default" in json.loads(environment["AIRFLOW_SQS_QUEUES"])
        assert urlsplit(environment["AWS_ENDPOINT_URL_SQS"]).hostname == "sqs"


@pytest.mark.parametrize("service", [*COMPONENTS, INIT_SERVICE])
def test_airflow_services_would_start_with_their_environment(services, service):
    environment = services[service]["environment"]
    component = services[service]["command"][len(ENTRYPOINT)]
    assert wiring.problems(component, environment) == []
    api = urlsplit(environment[contract.API_SERVER_URL.name])
    assert (api.hostname, api.port) == ("api-server", contract.API_SERVER_PORT.number)
    assert environment[contract.DB_HOST.name] == "postgres"


@pytest.mark.parametrize("service", [*COMPONENTS, INIT_SERVICE])
def test_airflow_services_run_the_dev_image_with_the_code_mounted(services, service):
    definition = services[service]
    assert definition["build"]["dockerfile"] == "build/dev/Containerfile"
    assert (ROOT / definition["build"]["dockerfile"]).is_file()
    mounts = {volume["target"]: volume for volume in definition["volumes"]}
    for folder in ("dags", "plugins", "deploy_airflow_on_ecs_fargate"):
        mount = mounts[f"/opt/airflow/{folder}"]
        assert (mount["type"], mount["source"]) == ("bind", str(ROOT / folder))


def test_only_the_api_server_is_published_and_on_loopback_unless_asked(services):
    published = {name: service["ports"] for name, service in services.items() if service.get("ports")}
    assert list(published) == ["api-server"]
    (port,) = published["api-server"]
    assert (port["host_ip"], port["target"], port["published"]) == ("127.0.0.1", 8080, "8080")
    exposed = compose("config", "--format", "json", environment={"AIRFLOW_LISTEN_ADDRESS": "0.0.0.0"})
    (port,) = json.loads(exposed.stdout)["services"]["api-server"]["ports"]
    assert port["host_ip"] == "0.0.0.0"


def test_metrics_are_the_contracts_and_off_until_asked(services):
    # The same options as the task definitions (contract.statsd_environment), collector aside.
    expected = contract.statsd_environment("localhost")
    for component in COMPONENTS:
        environment = services[component]["environment"]
        # `config` keeps Compose's `$$` escape (the container receives `$`).
        metrics = {
            name: value.replace("$$", "$")
            for name, value in environment.items()
            if name.startswith("AIRFLOW__METRICS__")
        }
        assert metrics == {**expected, "AIRFLOW__METRICS__STATSD_ON": "false"}
    asked = compose(
        "config",
        "--format",
        "json",
        environment={"AIRFLOW__METRICS__STATSD_ON": "true", "AIRFLOW__METRICS__STATSD_HOST": "statsd"},
    )
    environment = json.loads(asked.stdout)["services"]["scheduler"]["environment"]
    assert (environment["AIRFLOW__METRICS__STATSD_ON"], environment["AIRFLOW__METRICS__STATSD_HOST"]) == (
        "true",
        "statsd",
    )


CLI_SERVICE = "airflow-cli"
CLI_PROFILE = "cli"


@pytest.fixture(scope="module")
def cli_services() -> dict:
    """The services with the airflow-cli profile enabled, as `docker compose run airflow-cli` sees them."""
    result = compose("--profile", CLI_PROFILE, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


def image_entrypoint() -> list[str]:
    """The dev image's own ENTRYPOINT (tini), which the service's entrypoint must keep in front."""
    (line,) = [line for line in DEV_CONTAINERFILE.read_text().splitlines() if line.startswith("ENTRYPOINT")]
    return json.loads(line.removeprefix("ENTRYPOINT").strip())


def test_airflow_cli_is_left_out_of_compose_up(services, cli_services):
    assert CLI_SERVICE not in services
    assert set(cli_services) == {*services, CLI_SERVICE}
    assert cli_services[CLI_SERVICE]["profiles"] == [CLI_PROFILE]


def test_airflow_cli_runs_the_airflow_component_behind_tini_with_the_arguments_given(cli_services):
    cli = cli_services[CLI_SERVICE]
    # `docker compose run --rm airflow-cli dags list` replaces the command: the arguments follow `airflow`.
    assert cli["entrypoint"] == [*image_entrypoint(), *ENTRYPOINT, "airflow"]
    assert "airflow" in contract.COMPONENT_NAMES
    assert cli["command"] == ["version"]
    assert cli["restart"] == "no" and not cli.get("ports")
    assert cli["depends_on"][INIT_SERVICE]["condition"] == "service_completed_successfully"


def test_airflow_cli_has_the_components_configuration_image_and_code(cli_services):
    cli = cli_services[CLI_SERVICE]
    assert wiring.problems("airflow", cli["environment"]) == []
    assert cli["environment"] == cli_services["scheduler"]["environment"]
    assert cli["build"] == cli_services["scheduler"]["build"] and cli["image"] == cli_services["scheduler"]["image"]
    assert cli["volumes"] == cli_services["scheduler"]["volumes"]
