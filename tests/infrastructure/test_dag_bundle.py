"""DAGs from S3 (dag_source=s3, both profiles): a versioned, encrypted, private, TLS-only bucket
that only the dag-processor, the workers and one-off tasks may read (never write), named to every
container through the runtime contract and given as a stack output; dag_source=image has none."""

from __future__ import annotations

import pytest

from deploy_airflow_on_ecs_fargate import contract
from tests.infrastructure.templates import DEPLOYMENTS, dumps, resources

WITH_BUCKET = [key for key, settings in DEPLOYMENTS.items() if settings.dag_source == "s3"]
READERS = {"dag-processor", "worker", "standalone"}


def dag_bucket(template: dict) -> str:
    (bucket,) = [name for name in resources(template, "AWS::S3::Bucket") if name.startswith("DagBundleBucket")]
    return bucket


def task_roles(template: dict) -> dict[str, set[str]]:
    """Each task role and the container names of its task definition."""
    roles: dict[str, set[str]] = {}
    for task in resources(template, "AWS::ECS::TaskDefinition").values():
        role = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
        roles.setdefault(role, set()).update(d["Name"] for d in task["Properties"]["ContainerDefinitions"])
    return roles


def statements_on(template: dict, bucket: str) -> dict[str, list[dict]]:
    """Every identity-policy statement that names the bucket, by role."""
    found: dict[str, list[dict]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if bucket in dumps(statement["Resource"]):
                for role in policy["Properties"]["Roles"]:
                    found.setdefault(role["Ref"], []).append(statement)
    return found


def test_the_shipped_profiles_take_dags_from_s3():
    assert {"dev", "prod"} <= set(WITH_BUCKET)


@pytest.mark.parametrize("deployment", WITH_BUCKET)
def test_the_bucket_is_versioned_encrypted_private_and_kept(raw_templates, deployment):
    bucket = raw_templates[deployment]["Resources"][dag_bucket(raw_templates[deployment])]
    properties = bucket["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    # Old versions stay restorable for a while, then expire (storage does not grow forever).
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90} and rule["Status"] == "Enabled"
    assert bucket["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("deployment", WITH_BUCKET)
def test_the_bucket_policy_refuses_every_request_without_tls(raw_templates, deployment):
    template = raw_templates[deployment]
    bucket = dag_bucket(template)
    (policy,) = [
        p["Properties"]
        for p in resources(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    arn = {"Fn::GetAtt": [bucket, "Arn"]}
    assert statement["Resource"] == [arn, {"Fn::Join": ["", [arn, "/*"]]}]


@pytest.mark.parametrize("deployment", WITH_BUCKET)
def test_only_the_readers_may_list_and_get_and_nobody_may_write(raw_templates, deployment):
    template = raw_templates[deployment]
    bucket = dag_bucket(template)
    arn = {"Fn::GetAtt": [bucket, "Arn"]}
    roles = task_roles(template)
    found = statements_on(template, bucket)
    readers = {role for role, containers in roles.items() if containers & READERS}
    assert set(found) == readers
    for role in readers:
        assert sorted(found[role], key=dumps) == sorted(
            [
                {"Action": "s3:GetObject", "Effect": "Allow", "Resource": {"Fn::Join": ["", [arn, "/*"]]}},
                {"Action": "s3:ListBucket", "Effect": "Allow", "Resource": arn},
            ],
            key=dumps,
        )
    # In prod each component has a role of its own: the others get nothing on the bucket.
    if deployment == "prod":
        others = {role for role, containers in roles.items() if containers & {"api-server", "scheduler", "triggerer"}}
        assert others and not others & set(found)


@pytest.mark.parametrize("deployment", WITH_BUCKET)
def test_every_container_names_the_bucket_and_the_stack_outputs_it(raw_templates, deployment):
    template = raw_templates[deployment]
    bucket = dag_bucket(template)
    for task in resources(template, "AWS::ECS::TaskDefinition").values():
        for definition in task["Properties"]["ContainerDefinitions"]:
            if definition.get("EntryPoint") != list(contract.ENTRYPOINT):
                continue  # not an Airflow container (a metrics agent beside one, say)
            environment = {item["Name"]: item["Value"] for item in definition["Environment"]}
            assert environment[contract.DAGS_BUCKET.name] == {"Ref": bucket}, definition["Name"]
    assert template["Outputs"]["DagBucketName"]["Value"] == {"Ref": bucket}


def test_dags_baked_into_the_image_need_no_bucket(raw_templates):
    template = raw_templates["dev-plain-http"]
    assert DEPLOYMENTS["dev-plain-http"].dag_source == "image"
    assert not [name for name in resources(template, "AWS::S3::Bucket") if name.startswith("DagBundle")]
    assert contract.DAGS_BUCKET.name not in dumps(template)
    assert "DagBucketName" not in template["Outputs"]
