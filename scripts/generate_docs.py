"""Write the documentation generated from code: `make docs` (the tests fail when it is stale).

- docs/runtime-contract.md, whole, from deploy_airflow_on_ecs_fargate/contract.py;
- the settings table of infrastructure/README.md (between its GENERATED markers), from the CDK
  app's settings (infrastructure/airflow_ecs/settings.py).

    python scripts/generate_docs.py          # write both
    python scripts/generate_docs.py --check  # exit 1 and name the stale files
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "infrastructure")]

from airflow_ecs import settings as deployment  # noqa: E402
from deploy_airflow_on_ecs_fargate import contract  # noqa: E402

CONTRACT_DOC = ROOT / "docs" / "runtime-contract.md"
INFRASTRUCTURE_README = ROOT / "infrastructure" / "README.md"
BEGIN = "<!-- BEGIN GENERATED: settings table (make docs) -->"
END = "<!-- END GENERATED: settings table -->"


def _components(names: tuple[str, ...]) -> str:
    if set(names) == set(contract.COMPONENT_NAMES):
        return "every component"
    if set(names) == set(contract.LONG_RUNNING_NAMES):
        return "every long-running component"
    return ", ".join(names)


def runtime_contract() -> str:
    entry = " ".join(contract.ENTRYPOINT)
    health = " ".join(contract.HEALTH_COMMAND)
    lines = [
        "# Runtime contract",
        "",
        "<!-- Generated from deploy_airflow_on_ecs_fargate/contract.py by `make docs`; edit the contract, not this file. -->",
        "",
        "Every Airflow container (ECS task, docker compose service, local-stack process) starts the same",
        "way and reads the same environment. The runtime validates against `deploy_airflow_on_ecs_fargate/contract.py`;",
        "the CDK app, the local stack, the images and compose's tests read it, and a test synthesizes every",
        "task definition and runs the runtime's own validation on what each container would receive.",
        "",
        "## Commands",
        "",
        f"`{entry} COMPONENT [ARGS]`, where COMPONENT is one of:",
        "",
        "| component | what it runs | long-running | ports | health check | stop timeout |",
        "|---|---|---|---|---|---|",
    ]
    for component in contract.COMPONENTS:
        ports = ", ".join(str(port.number) for port in component.ports) or "-"
        check = component.health.summary if component.health else "-"
        stop = f"{component.stop_timeout_seconds} s" if component.long_running else "-"
        running = "yes" if component.long_running else "one-shot"
        lines.append(f"| `{component.name}` | {component.summary} | {running} | {ports} | {check} | {stop} |")
    lines += [
        "",
        f"Health: `{health} COMPONENT` exits 0 when healthy, 1 when not, with one line on stdout, within "
        f"{contract.HEALTH_ANSWER_SECONDS} s. Containers run it every {contract.HEALTH_INTERVAL_SECONDS} s with a "
        f"{contract.HEALTH_TIMEOUT_SECONDS} s timeout, {contract.HEALTH_RETRIES} retries and a "
        f"{contract.HEALTH_START_PERIOD_SECONDS} s start period.",
        "",
        "Every command first validates the environment (one line naming the bad variable, exit 2; a misspelt",
        "variable is named with the one it resembles), then waits for the metadata database (bounded by",
        f"`{contract.DB_WAIT_SECONDS.name}`), then replaces itself (`exec`) with the Airflow process, so the process",
        "receives signals directly (Celery's warm shutdown on SIGTERM). On ECS the task definitions set this command",
        "as the container's entry point and turn on ECS's init process; the images' own entry point (tini) does the",
        "same under Docker. The stop timeout is what ECS and compose give between SIGTERM and SIGKILL.",
        "",
        "## Environment",
        "",
        "| variable | default | required by | secret | meaning |",
        "|---|---|---|---|---|",
    ]
    for variable in contract.VARIABLES:
        default = f"`{variable.default}`" if variable.default else "-"
        required = _components(variable.required_by) if variable.required_by else "-"
        if variable.set_by_ecs:
            required += " (set by ECS)"
        secret = "yes" if variable.secret else "-"
        lines.append(f"| `{variable.name}` | {default} | {required} | {secret} | {variable.summary} |")
    lines += [
        "",
        "Also accepted, passed to Airflow unchanged: any Airflow option as `AIRFLOW__SECTION__KEY` (they override",
        "the defaults the entrypoint sets), connections as `AIRFLOW_CONN_*` and variables as `AIRFLOW_VAR_*`.",
        "Secrets reach ECS tasks through ECS `secrets`, never a task definition's plain environment, and are",
        "masked in every log line.",
        "",
        "## Ports",
        "",
        f"Every server of a component listens on `{contract.LISTEN_ADDRESS.name}`.",
        "",
        "| port | moved by | opened by | what | reached from other tasks by |",
        "|---|---|---|---|---|",
    ]
    for port in contract.PORTS:
        owners = ", ".join(c.name for c in contract.LONG_RUNNING if port in c.ports)
        clients = ", ".join(port.clients) or (
            "every task and the load balancer" if port is contract.API_SERVER_PORT else "-"
        )
        lines.append(f"| {port.number} | `{port.variable}` | {owners} | {port.purpose} | {clients} |")
    lines += [
        "",
        f"HTTP health paths: api-server `{contract.API_HEALTH_PATH}`, scheduler `{contract.SCHEDULER_HEALTH_PATH}`.",
        "",
        "## Paths",
        "",
        f"`AIRFLOW_HOME={contract.IMAGE_AIRFLOW_HOME}` in the images; DAGs in `{contract.IMAGE_AIRFLOW_HOME}/dags`,",
        f"plugins in `{contract.IMAGE_AIRFLOW_HOME}/plugins`.",
        "",
    ]
    return "\n".join(lines)


def _cell(value) -> str:
    """A profile's value in the table: nested settings show their fields on the rows below."""
    if value == "-" or dataclasses.is_dataclass(value):
        return "-" if value == "-" else "(below)"
    if isinstance(value, tuple):
        value = ", ".join(str(item) for item in value) or "(none)"
    return f"`{value}`"


def _lookup(settings, dotted: str):
    value = settings
    for part in dotted.split("."):
        if value is None:
            return "-"
        value = getattr(value, part)
    return value


def settings_table() -> str:
    profiles = list(deployment.PROFILES)
    lines = [
        "| setting | type | " + " | ".join(profiles) + " | description |",
        "|---|---|" + "---|" * len(profiles) + "---|",
    ]
    for name, item in deployment.setting_fields():
        values = []
        for profile in profiles:
            value = _lookup(deployment.PROFILES[profile], name)
            values.append(_cell(value))
        kind = str(item.type).replace("|", "or")
        lines.append(f"| `{name}` | {kind} | " + " | ".join(values) + f" | {item.metadata['doc']} |")
    return "\n".join(lines)


def infrastructure_readme(current: str) -> str:
    if BEGIN not in current or END not in current:
        raise SystemExit(f"{INFRASTRUCTURE_README.relative_to(ROOT)} lacks the markers {BEGIN} ... {END}")
    head, rest = current.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{settings_table()}\n{END}{tail}"


def expected_files() -> dict[Path, str]:
    return {
        CONTRACT_DOC: runtime_contract(),
        INFRASTRUCTURE_README: infrastructure_readme(INFRASTRUCTURE_README.read_text()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the documentation generated from code")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a file is stale")
    args = parser.parse_args(argv)
    stale = [path for path, text in expected_files().items() if path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in expected_files().items():
        path.write_text(text)
    print(f"wrote {', '.join(str(path.relative_to(ROOT)) for path in stale) or 'nothing (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
