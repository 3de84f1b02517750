"""cfn-lint on every synthesized template, and the cdk-nag report of the session's synth."""

from __future__ import annotations

import json
from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

from tests.infrastructure.templates import DEPLOYMENTS

# cfn-lint warnings we accept, with the reason.
ACCEPTED_WARNINGS: dict[str, str] = {
    "W3010": "Subnet AZs come from cdk.context.json, where CDK records the account's AZ lookup: "
    "pinning them keeps subnets from moving when AWS adds an AZ (Fn::GetAZs would not).",
    "W3005": "CDK writes an explicit DependsOn next to a Ref when a construct dependency is declared "
    "(migration after network and cluster, service after its target group): redundant, harmless.",
}


def test_cfn_lint_finds_no_errors_and_no_unexplained_warnings(template_files):
    assert len(template_files) == 2 * len(DEPLOYMENTS)
    problems = []
    for path in template_files:
        for match in lint_file(Path(path), ManualArgs(regions=["us-east-1"])):
            if match.rule.id.startswith("I") or match.rule.id in ACCEPTED_WARNINGS:
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
    assert ("AwsSolutions-EC23", "airflow-prod") in by_stack  # shipped: open to 0.0.0.0/0
    assert ("AwsSolutions-EC23", "airflow-prod-https") not in by_stack
