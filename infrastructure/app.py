#!/usr/bin/env python3
"""CDK app entry: `make synth` or `cdk synth` from this folder.

Choose a profile and override scalar settings with context, e.g.
`cdk synth -c airflow:profile=prod -c airflow:egress=public` or
`make synth PROFILE=prod SETTINGS="egress=public"`.
"""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk

from airflow_ecs.application import INFRASTRUCTURE_DIR, build_app
from airflow_ecs.settings import SettingsError, load

PREFIX = "airflow:"


def main() -> int:
    # Context given on the command line (CDK CLI or make synth) selects the deployment.
    given = cdk.App().node.get_all_context() if os.environ.get("CDK_CONTEXT_JSON") else {}
    options = {key[len(PREFIX) :]: value for key, value in given.items() if key.startswith(PREFIX)}
    for item in filter(None, os.environ.get("AIRFLOW_ECS_SETTINGS", "").split()):
        key, _, value = item.partition("=")
        options[key] = value
    profile = str(options.pop("profile", os.environ.get("AIRFLOW_ECS_PROFILE", "dev")))
    # The CDK CLI sets these from the caller's credentials: deploy where you are logged in.
    # Without credentials (make synth, CI) the settings' dummy account and region apply.
    for key, variable in (("account", "CDK_DEFAULT_ACCOUNT"), ("region", "CDK_DEFAULT_REGION")):
        if key not in options and os.environ.get(variable):
            options[key] = os.environ[variable]
    try:
        settings = load(profile, options)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Under the CDK CLI, CDK_OUTDIR says where to write; alone, write next to this file.
    outdir = None if os.environ.get("CDK_OUTDIR") else str(INFRASTRUCTURE_DIR / "cdk.out")
    build_app([settings], outdir=outdir).synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
