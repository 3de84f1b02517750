"""What `make up` checks before it starts anything, each problem one line with its fix.

- the runtime's own verdict on the environment of every component (the entrypoint would stop the
  component with the same line, but only after the stack had half started);
- every Airflow setting the user gave as ``AIRFLOW__SECTION__KEY``: an option Airflow (or one of
  its providers) has, with a value of its type. A typo is otherwise ignored without a word, and a
  bad number stops a component minutes later with a traceback;
- the DAGs and plugins folders exist.

Airflow's list of options comes from Airflow itself, in a child process with the stack's own
AIRFLOW_HOME (an Airflow import costs about 2 s of CPU, so it only runs when the user set
``AIRFLOW__`` variables).
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from deploy_airflow_on_ecs_fargate import contract
from deploy_airflow_on_ecs_fargate.settings import ConfigurationError, load_settings
from local_stack.paths import REPO_ROOT

# Sections whose keys are free-form: every key is handed to a library as it is.
FREE_FORM_SECTIONS = (
    "celery_broker_transport_options",
    "celery_result_backend_transport_options",
    "kubernetes_environment_variables",
    "secrets",
)
FOLDERS = {
    "AIRFLOW__CORE__DAGS_FOLDER": "the folder of your DAG files",
    "AIRFLOW__CORE__PLUGINS_FOLDER": "the folder of your Airflow plugins",
}
OPTION_CHECK_TIMEOUT_SECONDS = 60


class ValidationError(Exception):
    """The environment would not start; the message is one line naming the fix."""


def check_components(environment: Mapping[str, str]) -> None:
    for name in (*contract.LONG_RUNNING_NAMES, "migrate"):
        try:
            load_settings(name, environment)
        except ConfigurationError as error:
            raise ValidationError(str(error)) from None


def check_folders(environment: Mapping[str, str]) -> None:
    for variable, what in FOLDERS.items():
        folder = environment.get(variable, "").strip()
        if folder and not Path(folder).expanduser().is_dir():
            raise ValidationError(f"{variable}={folder} is not a folder: create it, or point {variable} at {what}")


def user_airflow_settings(user_environ: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in user_environ.items() if name.startswith("AIRFLOW__")}


def option_problems(settings: Mapping[str, str], description: Mapping, deprecated: Mapping) -> list[str]:
    """Each AIRFLOW__SECTION__KEY that names no option, or whose value is not of the option's type.

    ``description`` is Airflow's `conf.configuration_description` (section -> {"options": {key:
    {"type": ...}}}); ``deprecated`` maps "section.key" of an old name to its new one."""
    problems = []
    known = {
        f"AIRFLOW__{section.upper()}__{key.upper()}": (section, key, spec)
        for section, content in description.items()
        for key, spec in (content.get("options") or {}).items()
    }
    for name, value in sorted(settings.items()):
        parts = name.split("__")
        if len(parts) != 3 or not parts[1] or not parts[2]:
            problems.append(f"{name} is not of the form AIRFLOW__SECTION__KEY: rename it, or unset it")
            continue
        section, key = parts[1].lower(), parts[2].lower()
        if section in FREE_FORM_SECTIONS and section in description:
            continue
        base_key = key.removesuffix("_cmd").removesuffix("_secret")
        base = f"AIRFLOW__{section.upper()}__{base_key.upper()}"
        if base in known and base_key != key:
            continue  # the value is a command or a secret's name, not the option's value
        if f"{section}.{key}" in deprecated:
            continue  # Airflow still reads it, with a deprecation warning naming the new one
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
            hint = f"did you mean {close[0]}?" if close else "see `airflow config list --defaults`"
            problems.append(f"{name} is not an Airflow option ({hint}): fix the name, or unset it")
            continue
        kind = known[name][2].get("type")
        if not _is_of_type(value, kind):
            example = known[name][2].get("default") or known[name][2].get("example")
            example_hint = f", e.g. {example}" if example not in (None, "") else ""
            problems.append(
                f"{name}={value!r} is not a valid {kind} for Airflow's [{section}] {key}: give one{example_hint}"
            )
    return problems


def _is_of_type(value: str, kind: str | None) -> bool:
    text = value.strip()
    if kind == "integer":
        try:
            int(text)
        except ValueError:
            return False
    elif kind == "float":
        try:
            float(text)
        except ValueError:
            return False
    elif kind == "boolean":
        return text.lower() in ("t", "true", "1", "f", "false", "0")
    return True


def check_airflow_settings(environment: Mapping[str, str], user_environ: Mapping[str, str]) -> None:
    """Judge the user's AIRFLOW__ settings by Airflow's own list, in a child process."""
    settings = user_airflow_settings(user_environ)
    if not settings:
        return
    child_environment = {
        name: value for name, value in environment.items() if not name.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))
    }
    try:
        result = subprocess.run(
            [sys.executable, "-m", "local_stack.validation"],
            input=json.dumps(settings),
            env=child_environment,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=OPTION_CHECK_TIMEOUT_SECONDS,
        )
        problems = json.loads(result.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        raise ValidationError(
            "could not read Airflow's list of options to check your AIRFLOW__ settings: "
            "run `make install`, then `make up` again"
        ) from None
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValidationError(f"{problems[0]}{more}")


def validate(environment: Mapping[str, str], user_environ: Mapping[str, str]) -> None:
    """Everything `make up` can judge before it starts anything."""
    check_components(environment)
    check_folders(environment)
    check_airflow_settings(environment, user_environ)


def main() -> None:
    """Child process: read {name: value} on stdin, print the problems as one JSON line."""
    settings = json.loads(sys.stdin.read())
    from airflow.configuration import conf

    deprecated = {f"{old[0]}.{old[1]}": new for new, old in conf.deprecated_options.items()}
    print(json.dumps(option_problems(settings, conf.configuration_description, deprecated)))


if __name__ == "__main__":
    main()
