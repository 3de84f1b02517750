"""Stack outputs: everything the operator tool needs, so nobody copies ids by hand."""

from __future__ import annotations

import pytest

EXPECTED = {
    "ClusterName",
    "StandaloneTaskDefinitionArn",
    "StandaloneTaskFamily",
    "StandaloneContainerName",
    "StandaloneSecurityGroup",
    "StandaloneLogGroup",
    "TaskSubnets",
    "AssignPublicIp",
    "QueueUrl",
    "LoadBalancerUrl",
    "TaskLogLocation",
    "MetricNamespace",
    *(f"{c}ServiceName" for c in ("ApiServer", "Scheduler", "DagProcessor", "Triggerer", "Worker")),
    *(f"{c}LogGroup" for c in ("ApiServer", "Scheduler", "DagProcessor", "Triggerer", "Worker")),
}


@pytest.mark.parametrize("deployment", ["dev", "prod"])
def test_outputs_for_the_operator_tool(raw_templates, deployment):
    outputs = raw_templates[deployment]["Outputs"]
    assert set(outputs) >= EXPECTED
    assert outputs["AssignPublicIp"]["Value"] == ("ENABLED" if deployment == "dev" else "DISABLED")
    subnets = outputs["TaskSubnets"]["Value"]["Fn::Join"]
    assert subnets[0] == "," and len(subnets[1]) == 2
    assert "RepositoryUri" in raw_templates[f"{deployment}-registry"]["Outputs"]
