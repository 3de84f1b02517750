"""Logging for every Airflow process.

Airflow's default already sends component logs to stdout (what ECS ships to CloudWatch Logs) and
writes task logs through its task handler, which the UI reads (from the worker's log server, or
from remote storage when ``[logging] remote_logging`` is on). What this adds: the raw secrets the
entrypoint receives (database password, Fernet seed, admin password) are registered with Airflow's
secrets masker too, so they are masked in every log line like the secrets Airflow knows itself.
"""

from __future__ import annotations

import os
from copy import deepcopy

from airflow.config_templates.airflow_local_settings import DEFAULT_LOGGING_CONFIG

# Airflow's two maskers, as its own conf.mask_secrets() uses them: the core one (the filter its
# default logging config attaches to every handler; internal module, hence the exact Airflow pin)
# and the task SDK's one (task processes and their supervisor).
from airflow._shared.secrets_masker import mask_secret as mask_secret_core
from airflow.sdk.log import mask_secret as mask_secret_sdk

RAW_SECRET_VARIABLES = ("AIRFLOW_DB_PASSWORD", "AIRFLOW_FERNET_SEED", "AIRFLOW_ADMIN_PASSWORD")


def mask_raw_secrets(environ=os.environ) -> None:
    for name in RAW_SECRET_VARIABLES:
        value = environ.get(name)
        if value:
            mask_secret_core(value)
            mask_secret_sdk(value)


LOGGING_CONFIG = deepcopy(DEFAULT_LOGGING_CONFIG)
mask_raw_secrets()
