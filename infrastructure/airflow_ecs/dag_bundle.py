"""The bucket DAGs come from when `dag_source=s3`: an Airflow DAG bundle, so a DAG change is live
within a minute of `airflow-ecs dags push`, without an image build or a deploy
(docs/decisions/0072-dag-bundles-from-s3.md).

The components learn the bucket from the runtime contract's AIRFLOW_DAGS_BUCKET; the runtime turns
it into Airflow's S3DagBundle. Only the dag-processor (parses), the workers (fetch the bucket
before each task) and one-off tasks (`dags reserialize`, `dags test`) may read it, and nothing
in the deployment may write it: operators push.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from deploy_airflow_on_ecs_fargate import contract

# How long a replaced or deleted DAG file stays restorable (an older object version).
NONCURRENT_VERSION_DAYS = 90


class DagBundle(Construct):
    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            # SSE-S3: no KMS key to pay for or to grant; ETags stay the objects' MD5, which is how
            # `dags push` finds the files that changed.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            # CloudFormation cannot delete a bucket with objects: kept, as the log buckets are.
            removal_policy=RemovalPolicy.RETAIN,
        )

    def environment(self) -> dict[str, str]:
        return {contract.DAGS_BUCKET.name: self.bucket.bucket_name}

    def grant_read(self, role: iam.IGrantable) -> None:
        """List and get, nothing else (Bucket.grant_read would add s3:GetBucket*, s3:List*...)."""
        role.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects("*")])
        )
        # ListBucket also answers the bundle's HeadBucket check.
        role.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
        )
