"""RDS PostgreSQL: current major, Graviton, encrypted, backed up, private, reachable only from Airflow."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests.infrastructure.templates import DEPLOYMENTS, resources


@pytest.mark.parametrize(("deployment", "instance_class"), [("dev", "db.t4g.micro"), ("prod", "db.t4g.small")])
def test_instance_is_encrypted_backed_up_and_private(templates, deployment, instance_class):
    templates[deployment].has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": "18.6",
            "DBInstanceClass": instance_class,
            "StorageEncrypted": True,
            "PubliclyAccessible": False,
            "BackupRetentionPeriod": Match.any_value(),
            "DBName": "airflow",
        },
    )


def test_prod_adds_multi_az_deletion_protection_and_a_final_snapshot(templates):
    templates["prod"].has_resource(
        "AWS::RDS::DBInstance",
        {
            "Properties": Match.object_like({"MultiAZ": True, "DeletionProtection": True, "BackupRetentionPeriod": 14}),
            "DeletionPolicy": "Snapshot",
        },
    )
    templates["dev"].has_resource(
        "AWS::RDS::DBInstance",
        {"Properties": Match.object_like({"MultiAZ": False, "DeletionProtection": False}), "DeletionPolicy": "Delete"},
    )


@pytest.mark.parametrize("deployment", ["dev", "prod", "dev-allowlist"])
def test_only_airflow_task_security_groups_reach_the_database(raw_templates, deployment):
    template = raw_templates[deployment]
    (db_group,) = [n for n in resources(template, "AWS::EC2::SecurityGroup") if n.startswith("MetadataDbSecurityGroup")]
    rules = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [db_group, "GroupId"]}
    ]
    sources = {rule["SourceSecurityGroupId"]["Fn::GetAtt"][0] for rule in rules}
    services = (
        {"ControlPlane", "Worker"}
        if DEPLOYMENTS[deployment].control_plane_task
        else {"ApiServerService", "Scheduler", "DagProcessor", "Triggerer", "Worker"}
    )
    assert {s.split("SecurityGroup")[0] for s in sources} == services | {"StandaloneTask"}
    assert all(
        rule["FromPort"] == rule["ToPort"] == {"Fn::GetAtt": ["MetadataDbInstanceD6E9D06F", "Endpoint.Port"]}
        for rule in rules
    )
    assert "SecurityGroupIngress" not in template["Resources"][db_group]["Properties"]
