"""cfn-lint on every synthesized template, and the cdk-nag report of the session's synth."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from cfnlint.api import ManualArgs, lint_file

from tests.infrastructure.templates import DEPLOYMENTS, INFRASTRUCTURE

CFN_LINT_CONFIG = INFRASTRUCTURE / ".cfnlintrc.yaml"


def cfn_lint_config() -> dict:
    """The one list of accepted warnings, shared with `make lint-templates`."""
    return yaml.safe_load(CFN_LINT_CONFIG.read_text())


def test_every_accepted_cfn_lint_warning_has_its_reason_above_it():
    lines = CFN_LINT_CONFIG.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.strip().startswith("- W"):
            assert lines[number - 1].strip().startswith("#"), f"{line.strip()} has no reason on the line above"
    assert cfn_lint_config()["ignore_checks"]


def test_cfn_lint_finds_no_errors_and_no_unexplained_warnings(template_files):
    assert len(template_files) == 2 * len(DEPLOYMENTS)
    config = cfn_lint_config()
    problems = []
    for path in template_files:
        for match in lint_file(Path(path), ManualArgs(regions=config["regions"])):
            if match.rule.id.startswith("I") or match.rule.id in config["ignore_checks"]:
                continue
            problems.append(f"{path.name}: {match.rule.id} {match.message} ({match.path_string})")
    assert problems == []


def test_cdk_nag_passed_with_every_acknowledgment_reasoned(assembly):
    report = json.loads((Path(assembly.directory) / "validation-report.json").read_text())
    (nag,) = [p for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    suppressed = nag["suppressedViolations"]
    assert suppressed
    for finding in suppressed:
        # Acknowledged on the construct concerned, never stack-wide, with a reason that explains.
        assert "/" in finding["acknowledgedAt"], finding["ruleName"]
        assert len(finding["reason"]) >= 60, finding["ruleName"]
    # Setting-dependent findings are acknowledged only where the setting chose the cheaper option.
    by_stack = {(f["ruleName"], f["acknowledgedAt"].split("/")[0]) for f in suppressed}
    assert ("AwsSolutions-RDS3", "airflow-dev") in by_stack
    assert ("AwsSolutions-RDS3", "airflow-prod") not in by_stack
    # EC23 only where it is true: a load balancer open to the internet over HTTPS (prod as shipped).
    # Narrowed (prod-narrow, dev-plain-http) or without a load balancer (dev), nothing to acknowledge.
    ec23 = {stack for rule, stack in by_stack if rule == "AwsSolutions-EC23"}
    assert ec23 == {"airflow-prod", "airflow-prod-public"}
    reasons = {f["reason"] for f in suppressed if f["ruleName"] == "AwsSolutions-EC23"}
    assert all("served only over HTTPS" in reason for reason in reasons)
    # Container Insights off is acknowledged only where it is off.
    ecs4 = {stack for rule, stack in by_stack if rule == "AwsSolutions-ECS4"}
    assert "airflow-dev" in ecs4 and "airflow-prod-narrow" not in ecs4
