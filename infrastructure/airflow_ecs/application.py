"""Build the CDK app: one registry stack and one Airflow stack per deployment, checked by cdk-nag."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from airflow_ecs.nag import acknowledge_findings
from airflow_ecs.settings import DeploymentSettings, validate
from airflow_ecs.stack import AirflowStack, RegistryStack

INFRASTRUCTURE_DIR = Path(__file__).resolve().parent.parent


def file_context() -> dict:
    """cdk.json's context and cdk.context.json (AZs of the dummy account), as the CDK CLI passes them.

    Running the app with plain Python (make synth, tests) does not go through the CLI, which is
    what normally reads these files.
    """
    context = json.loads((INFRASTRUCTURE_DIR / "cdk.json").read_text())["context"]
    context.update(json.loads((INFRASTRUCTURE_DIR / "cdk.context.json").read_text()))
    return context


def build_app(deployments: Sequence[DeploymentSettings], *, outdir: str | None = None) -> cdk.App:
    app = cdk.App(outdir=outdir, context=file_context())
    for settings in deployments:
        validate(settings)
        registry = RegistryStack(app, f"{settings.name}-registry", settings=settings)
        stack = AirflowStack(app, settings.name, settings=settings, repository=registry.registry.repository)
        acknowledge_findings(stack)
    # Unacknowledged AwsSolutions findings make synth fail.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app
