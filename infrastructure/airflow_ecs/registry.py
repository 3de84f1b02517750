"""ECR repository for the Airflow image (the seed's ecr.tf).

It lives in its own stack, deployed first, so an image can be pushed before the services that
run it exist (the seed's `terraform apply -target=aws_ecr_repository.airflow`).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from airflow_ecs.settings import DeploymentSettings


class Registry(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: DeploymentSettings) -> None:
        super().__init__(scope, id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            repository_name=f"{settings.name}/airflow",
            image_scan_on_push=True,
            # A tag names one image forever (git sha, semantic version): a deploy is reproducible
            # and a rollback brings back exactly the previous image. No `latest`.
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.AES_256,
            # Images are the release history; deleting the stack must not delete them.
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description="drop untagged layers left by re-pushes",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(7),
                    rule_priority=1,
                ),
                ecr.LifecycleRule(
                    description=f"keep the {settings.ecr_keep_images} newest images",
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=settings.ecr_keep_images,
                    rule_priority=2,
                ),
            ],
        )
