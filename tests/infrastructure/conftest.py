"""One synth of the whole app for the session: dev (public egress) and prod (private egress),
each with its registry stack, checked by cdk-nag while synthesizing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infrastructure.templates import DEPLOYMENTS


@pytest.fixture(scope="session")
def assembly(tmp_path_factory):
    from airflow_ecs.application import build_app

    app = build_app(list(DEPLOYMENTS.values()), outdir=str(tmp_path_factory.mktemp("cdk.out")))
    return app.synth()


@pytest.fixture(scope="session")
def raw_templates(assembly) -> dict[str, dict]:
    """Airflow stack templates as dicts, by deployment key; registry stacks as '<key>-registry'."""
    templates = {}
    for key, settings in DEPLOYMENTS.items():
        templates[key] = assembly.get_stack_by_name(settings.name).template
        templates[f"{key}-registry"] = assembly.get_stack_by_name(f"{settings.name}-registry").template
    return templates


@pytest.fixture(scope="session")
def templates(raw_templates):
    from aws_cdk.assertions import Template

    return {key: Template.from_json(template) for key, template in raw_templates.items()}


@pytest.fixture(scope="session")
def template_files(assembly) -> list[Path]:
    return sorted(Path(assembly.directory).glob("*.template.json"))
