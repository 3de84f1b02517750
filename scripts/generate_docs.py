"""Write the documentation generated from code: `make docs` (the tests fail when it is stale).

- docs/runtime-contract.md, whole, from deploy_airflow_on_ecs_fargate/contract.py;
- the settings table of infrastructure/README.md (between its GENERATED markers), from the CDK
  app's settings (infrastructure/airflow_ecs/settings.py);
- the architecture diagrams: docs/architecture.md, whole, and the README's (between its
  GENERATED markers), drawn from the synthesized dev and prod templates
  (infrastructure/airflow_ecs/diagram.py; tests/infrastructure/test_diagram.py checks them).

    python scripts/generate_docs.py          # write both
    python scripts/generate_docs.py --check  # exit 1 and name the stale files
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "infrastructure")]

from airflow_ecs import diagram  # noqa: E402
from airflow_ecs import settings as deployment  # noqa: E402
from deploy_airflow_on_ecs_fargate import contract  # noqa: E402

CONTRACT_DOC = ROOT / "docs" / "runtime-contract.md"
INFRASTRUCTURE_README = ROOT / "infrastructure" / "README.md"
BEGIN = "<!-- BEGIN GENERATED: settings table (make docs) -->"
END = "<!-- END GENERATED: settings table -->"
ARCHITECTURE_DOC = ROOT / "docs" / "architecture.md"
README = ROOT / "README.md"
DIAGRAM_BEGIN = "<!-- BEGIN GENERATED: architecture diagram (make docs) -->"
DIAGRAM_END = "<!-- END GENERATED: architecture diagram -->"
# prod cannot synthesize without a certificate (settings.validate); the diagram does not show it.
EXAMPLE_CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/example"


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
        *_metrics_section(),
        "## Paths",
        "",
        f"`AIRFLOW_HOME={contract.IMAGE_AIRFLOW_HOME}` in the images; DAGs in `{contract.IMAGE_AIRFLOW_HOME}/dags`,",
        f"plugins in `{contract.IMAGE_AIRFLOW_HOME}/plugins`.",
        "",
    ]
    return "\n".join(lines)


def _metrics_section() -> list[str]:
    example = contract.statsd_environment("HOST")
    lines = [
        "## Metrics",
        "",
        f"Components send Airflow's metrics as StatsD (UDP, port {contract.STATSD_PORT}, prefix "
        f"`{contract.STATSD_PREFIX}`) to a collector:",
        "on ECS the CloudWatch agent beside them in their task (docs/decisions/0070-metrics-collector.md);",
        "locally only when `LOCAL_STACK_STATSD_PORT` names one; in compose when `AIRFLOW__METRICS__STATSD_ON` is set.",
        "Airflow's allow list keeps only these, each one CloudWatch custom metric:",
        "",
        "| metric | kind | sent by | what |",
        "|---|---|---|---|",
    ]
    for metric in contract.METRICS:
        lines.append(f"| `{metric.name}` | {metric.kind} | {', '.join(metric.emitted_by)} | {metric.summary} |")
    lines += ["", "The Airflow options that turn it on (`contract.statsd_environment`):", "", "```"]
    lines += [f"{name}={value}" for name, value in example.items()]
    lines += ["```", ""]
    return lines


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


def diagrammed_deployments() -> dict[str, deployment.DeploymentSettings]:
    """The two shipped profiles, as `airflow-ecs deploy` synthesizes them."""
    return {
        "prod": dataclasses.replace(deployment.PROFILES["prod"], certificate_arn=EXAMPLE_CERTIFICATE),
        "dev": deployment.PROFILES["dev"],
    }


def synthesized_templates() -> dict[str, dict]:
    """The Airflow stack template of each diagrammed profile, synthesized offline (about 15 s)."""
    import tempfile

    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("CDK_VALIDATION", "false")  # cfn-lint and cdk-nag run in the tests
    from airflow_ecs.application import build_app

    settings = diagrammed_deployments()
    with tempfile.TemporaryDirectory() as outdir:
        assembly = build_app(list(settings.values()), outdir=outdir).synth()
        return {key: assembly.get_stack_by_name(s.name).template for key, s in settings.items()}


def _fenced(template: dict, stack_name: str) -> str:
    return f"```mermaid\n{diagram.mermaid(template, stack_name)}```"


def architecture_page(templates: dict[str, dict]) -> str:
    settings = diagrammed_deployments()
    lines = [
        "# Architecture",
        "",
        "<!-- Generated from the synthesized CDK app by `make docs` (infrastructure/airflow_ecs/diagram.py);",
        "     tests/infrastructure/test_diagram.py fails when it no longer matches what the app synthesizes. -->",
        "",
        "Each box is a resource of the synthesized Airflow stack (or a group of alike ones), placed in its",
        "subnets; each arrow is a relation the template states: a network path a security group allows",
        "(client to server), what a task role may do to a queue, a bucket or a log group, the secrets a task",
        "definition injects, and what starts what (the public endpoint, the deploy-time migration, EventBridge",
        "Scheduler, alarms). An arrow from a subnet box stands for every task in it. The registry stack (the",
        "ECR repository every task pulls from) is left out.",
        "",
        "## prod",
        "",
        "`airflow-ecs deploy --profile prod --settings certificate_arn=...`: every component a service of its",
        "own in private subnets behind NAT gateways, an Application Load Balancer, a Multi-AZ database.",
        "",
        _fenced(templates["prod"], settings["prod"].name),
        "",
        "## dev",
        "",
        "`make deploy`: the control plane as one task of several containers in public subnets (no NAT), the",
        "UI through an HTTP API, a single-AZ database, stopped at night.",
        "",
        _fenced(templates["dev"], settings["dev"].name),
        "",
    ]
    return "\n".join(lines)


def readme_with_diagram(current: str, templates: dict[str, dict]) -> str:
    if DIAGRAM_BEGIN not in current or DIAGRAM_END not in current:
        raise SystemExit(f"README.md lacks the markers {DIAGRAM_BEGIN} ... {DIAGRAM_END}")
    head, rest = current.split(DIAGRAM_BEGIN, 1)
    _, tail = rest.split(DIAGRAM_END, 1)
    diagram_text = _fenced(templates["prod"], diagrammed_deployments()["prod"].name)
    return f"{head}{DIAGRAM_BEGIN}\n{diagram_text}\n{DIAGRAM_END}{tail}"


def architecture_files(templates: dict[str, dict]) -> dict[Path, str]:
    return {
        ARCHITECTURE_DOC: architecture_page(templates),
        README: readme_with_diagram(README.read_text(), templates),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the documentation generated from code")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when a file is stale")
    args = parser.parse_args(argv)
    expected = {**expected_files(), **architecture_files(synthesized_templates())}
    stale = [path for path, text in expected.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in expected.items():
        path.write_text(text)
    print(f"wrote {', '.join(str(path.relative_to(ROOT)) for path in stale) or 'nothing (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
