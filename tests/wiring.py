"""The wiring check shared by the CDK, compose and local-stack tests: an environment a container
would receive, judged by the runtime's own rules (contract.py, settings.py) and Airflow's own list
of options. A rename in one place, a typo or a secret in plain text shows here, not at a deploy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache

from deploy_airflow_on_ecs_fargate import contract
from deploy_airflow_on_ecs_fargate.settings import ConfigurationError, load_settings


@cache
def airflow_options() -> dict[str, set[str]]:
    """Airflow's sections and their options, providers' included (Airflow's own description)."""
    from airflow.configuration import conf

    return {section: set(spec.get("options", {})) for section, spec in conf.configuration_description.items()}


# Sections whose keys are free-form: every key is handed to kombu's SQS transport.
FREE_FORM_SECTIONS = ("celery_broker_transport_options",)


def is_airflow_option(name: str) -> bool:
    """AIRFLOW__SECTION__KEY (also _CMD and _SECRET) naming an option Airflow knows."""
    parts = name.split("__")
    if len(parts) != 3 or parts[0] != "AIRFLOW":
        return False
    section, key = parts[1].lower(), parts[2].lower()
    options = airflow_options().get(section)
    if options is None:
        return False
    if section in FREE_FORM_SECTIONS:
        return True
    return key in options or key.removesuffix("_cmd") in options or key.removesuffix("_secret") in options


def problems(
    component: str, environment: Mapping[str, str], *, plain_names: Iterable[str] = (), where: str = ""
) -> list[str]:
    """What is wrong with the environment `component` would start with: unknown names, options
    Airflow does not have, secrets passed in plain text, and the runtime's own verdict."""
    prefix = f"{where}: " if where else ""
    found = [
        f"{prefix}{name} is not a variable of the runtime contract" for name in contract.unknown_names(environment)
    ]
    found += [
        f"{prefix}{name} is not an Airflow option"
        for name in environment
        if name.startswith("AIRFLOW__") and not is_airflow_option(name)
    ]
    found += [
        f"{prefix}{name} is a secret but is set in plain text" for name in plain_names if name in contract.SECRET_NAMES
    ]
    try:
        load_settings(component, environment)
    except ConfigurationError as error:
        found.append(f"{prefix}{component} would not start: {error}")
    return found
