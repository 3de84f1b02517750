"""A deployed stack, as moto's server can hold it: what `cdk deploy` leaves in an account.

The CloudFormation stacks carry the outputs of infrastructure/airflow_ecs/stack.py (`_outputs`)
and the registry's RepositoryUri, with a few real resources of the template (queue, access-log
bucket, database, repository) and their deletion policies. Around them: the cluster, one task
definition per component (entry point, awslogs stream prefix, the admin password secret), the
services, their log groups, the night schedule's scalable targets and actions, the image.

moto's ECS needs what Fargate does not: a container-level memory, a VPC with DNS host names and
security groups in every RunTask. Services never start tasks; `MOTO_ECS_SERVICE_RUNNING` (read
when a service is created) makes them report their tasks as running.

`python -m tests.cli.standin` runs a seeded server in the foreground for trying the CLI by hand.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import boto3

from deploy_airflow_on_ecs_fargate import contract

REGION = "eu-west-1"
ACCOUNT = "123456789012"
STACK = "airflow-dev"
IMAGE_TAG = "0123456789ab"
ADMIN_PASSWORD = "generated-admin-password-0123456789"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
UI_URL = "http://airflow-dev-alb-123456.eu-west-1.elb.amazonaws.com"
STANDALONE_CONTAINER = "standalone"
MIGRATION_STARTED_BY = "cloudformation-migrations"


def key(component: str) -> str:
    return "".join(part.title() for part in component.split("-"))


@dataclass
class Clients:
    endpoint: str
    region: str = REGION
    _made: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        name = service.replace("_", "-")
        if name not in self._made:
            self._made[name] = boto3.client(name, endpoint_url=self.endpoint, region_name=self.region, **CREDENTIALS)
        return self._made[name]


@dataclass
class Deployed:
    """Names of what was seeded, for tests to look at."""

    stack: str
    cluster: str
    subnets: list[str]
    security_group: str
    services: dict[str, str]
    log_groups: dict[str, str]
    standalone_family: str
    standalone_arn: str
    secret_arn: str
    queue_url: str
    repository_uri: str
    image_tag: str
    # The DAG bucket (dag_source=s3, the default): versioned, as the stack makes it.
    dag_bucket: str = ""
    alarm_topic: str = ""


def _quietly(function: Any, *args: Any, **kwargs: Any) -> Any:
    # moto warns about every template resource type it does not model; the outputs are what matter.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def seed_bootstrap(clients: Clients) -> None:
    template = {
        "Resources": {"StagingBucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {"BootstrapVersion": {"Value": "28"}},
    }
    _quietly(clients.cloudformation.create_stack, StackName="CDKToolkit", TemplateBody=json.dumps(template))


def seed_registry(clients: Clients, stack: str = STACK) -> str:
    repository = f"{stack}/airflow"
    template = {
        "Resources": {
            "RegistryRepository": {
                "Type": "AWS::ECR::Repository",
                "DeletionPolicy": "Retain",
                "Properties": {"RepositoryName": repository},
            }
        },
        "Outputs": {"RepositoryUri": {"Value": {"Fn::GetAtt": ["RegistryRepository", "RepositoryUri"]}}},
    }
    _quietly(clients.cloudformation.create_stack, StackName=f"{stack}-registry", TemplateBody=json.dumps(template))
    outputs = clients.cloudformation.describe_stacks(StackName=f"{stack}-registry")["Stacks"][0]["Outputs"]
    return next(o["OutputValue"] for o in outputs if o["OutputKey"] == "RepositoryUri")


def push_image(clients: Clients, repository_uri: str, tag: str) -> None:
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "tag": tag}
    clients.ecr.put_image(
        repositoryName=repository_uri.split("/", 1)[1], imageManifest=json.dumps(manifest), imageTag=tag
    )


def register_standalone(clients: Clients, stack: str, image: str, log_group: str, secret_arn: str) -> str:
    return _register(
        clients,
        family=f"{stack}-standalone",
        container=STANDALONE_CONTAINER,
        image=image,
        log_group=log_group,
        command=["airflow", "version"],
        environment={contract.ADMIN_USERNAME.name: "admin", contract.ADMIN_EMAIL.name: "admin@example.com"},
        secrets={contract.ADMIN_PASSWORD.name: secret_arn},
    )


def _register(
    clients: Clients,
    *,
    family: str,
    container: str,
    image: str,
    log_group: str,
    command: list[str],
    environment: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
) -> str:
    definition = clients.ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="1024",
        containerDefinitions=[
            {
                "name": container,
                "image": image,
                "essential": True,
                "memory": 1024,
                "entryPoint": list(contract.ENTRYPOINT),
                "command": command,
                "environment": [{"name": k, "value": v} for k, v in (environment or {}).items()],
                "secrets": [{"name": k, "valueFrom": v} for k, v in (secrets or {}).items()],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": log_group,
                        "awslogs-stream-prefix": container,
                        "awslogs-region": clients.region,
                    },
                },
            }
        ],
    )
    return str(definition["taskDefinition"]["taskDefinitionArn"])


def seed_application(
    clients: Clients,
    *,
    stack: str = STACK,
    image_tag: str = IMAGE_TAG,
    repository_uri: str,
    night_schedule: bool = True,
    deletion_protection: bool = False,
) -> Deployed:
    """The Airflow stack as `cdk deploy` leaves it (dev profile: public subnets, night schedule)."""
    ec2 = clients.ec2
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index}.0/24")["Subnet"]["SubnetId"] for index in range(2)]
    security_group = ec2.create_security_group(GroupName=f"{stack}-standalone", Description="standalone", VpcId=vpc)[
        "GroupId"
    ]
    clients.ecs.create_cluster(clusterName=stack, capacityProviders=["FARGATE", "FARGATE_SPOT"])
    secret_arn = clients.secretsmanager.create_secret(
        Name=f"SecretsAdminPassword-{stack}", SecretString=ADMIN_PASSWORD
    )["ARN"]
    image = f"{repository_uri}:{image_tag}"
    log_groups = {name: f"{stack}-{key(name)}Logs" for name in (*contract.LONG_RUNNING_NAMES, STANDALONE_CONTAINER)}
    for group in log_groups.values():
        clients.logs.create_log_group(logGroupName=group)
    standalone_arn = register_standalone(clients, stack, image, log_groups[STANDALONE_CONTAINER], secret_arn)
    services = {}
    for component in contract.SERVICES:
        family = f"{stack}-{component.name}"
        _register(
            clients,
            family=family,
            container=component.name,
            image=image,
            log_group=log_groups[component.name],
            command=[component.name],
        )
        name = f"{stack}-{key(component.name)}Service-A1B2C3"
        clients.ecs.create_service(
            cluster=stack,
            serviceName=name,
            taskDefinition=family,
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [security_group]}},
        )
        services[component.name] = name
    if night_schedule:
        seed_night_schedule(clients, stack, services)
    alarm_topic = clients.sns.create_topic(Name=f"{stack}-alarms")["TopicArn"]
    outputs = {
        "ClusterName": stack,
        **{f"{key(name)}ServiceName": service for name, service in services.items()},
        **{f"{key(name)}LogGroup": log_groups[name] for name in contract.LONG_RUNNING_NAMES},
        "StandaloneTaskDefinitionArn": standalone_arn,
        "StandaloneTaskFamily": f"{stack}-standalone",
        "StandaloneContainerName": STANDALONE_CONTAINER,
        "StandaloneSecurityGroup": security_group,
        "StandaloneLogGroup": log_groups[STANDALONE_CONTAINER],
        "TaskSubnets": ",".join(subnets),
        "AssignPublicIp": "ENABLED",
        "LoadBalancerUrl": UI_URL,
        "TaskLogLocation": f"{stack}-TaskLogs",
        "MetricNamespace": f"Airflow/{stack}",
        # infrastructure/airflow_ecs/alarms.py: the topic every alarm of the deployment notifies.
        "AlarmTopicArn": alarm_topic,
        "DashboardName": stack,
    }
    template = {
        "Parameters": {"ImageTag": {"Type": "String"}},
        "Resources": {
            "CeleryBrokerDefaultQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{stack}-default"}},
            "PublicEndpointAccessLogs": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
            "DagBundleBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
            "MetadataDbInstance": {
                "Type": "AWS::RDS::DBInstance",
                "DeletionPolicy": "Snapshot" if deletion_protection else "Delete",
                "Properties": {
                    "Engine": "postgres",
                    "DBInstanceClass": "db.t4g.micro",
                    "AllocatedStorage": "20",
                    "MasterUsername": "airflow",
                    "MasterUserPassword": "not-used-by-the-cli",
                    "DeletionProtection": deletion_protection,
                },
            },
        },
        "Outputs": {
            "QueueUrl": {"Value": {"Ref": "CeleryBrokerDefaultQueue"}},
            "DagBucketName": {"Value": {"Ref": "DagBundleBucket"}},
            **{name: {"Value": value} for name, value in outputs.items()},
        },
    }
    _quietly(
        clients.cloudformation.create_stack,
        StackName=stack,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "ImageTag", "ParameterValue": image_tag}],
    )
    queue_url = clients.sqs.get_queue_url(QueueName=f"{stack}-default")["QueueUrl"]
    stack_outputs = clients.cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    dag_bucket = next(o["OutputValue"] for o in stack_outputs if o["OutputKey"] == "DagBucketName")
    clients.s3.put_bucket_versioning(Bucket=dag_bucket, VersioningConfiguration={"Status": "Enabled"})
    return Deployed(
        stack=stack,
        cluster=stack,
        subnets=subnets,
        security_group=security_group,
        services=services,
        log_groups=log_groups,
        standalone_family=f"{stack}-standalone",
        standalone_arn=standalone_arn,
        secret_arn=secret_arn,
        queue_url=queue_url,
        repository_uri=repository_uri,
        image_tag=image_tag,
        dag_bucket=dag_bucket,
        alarm_topic=alarm_topic,
    )


def seed_night_schedule(clients: Clients, stack: str, services: dict[str, str]) -> None:
    """infrastructure/airflow_ecs/scheduled_scaling.py: every component but the worker, off at night."""
    aas = clients.application_autoscaling
    for component, service in services.items():
        if component == "worker":
            continue
        target = {
            "ServiceNamespace": "ecs",
            "ResourceId": f"service/{stack}/{service}",
            "ScalableDimension": "ecs:service:DesiredCount",
        }
        aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=1)
        aas.put_scheduled_action(
            **target,
            ScheduledActionName="StopAtNight",
            Schedule="cron(0 20 * * ? *)",
            Timezone="UTC",
            ScalableTargetAction={"MinCapacity": 0, "MaxCapacity": 0},
        )
        aas.put_scheduled_action(
            **target,
            ScheduledActionName="StartInTheMorning",
            Schedule="cron(0 7 ? * MON,TUE,WED,THU,FRI *)",
            Timezone="UTC",
            ScalableTargetAction={"MinCapacity": 1, "MaxCapacity": 1},
        )


def seed_everything(clients: Clients, *, stack: str = STACK, **options: Any) -> Deployed:
    seed_bootstrap(clients)
    repository_uri = seed_registry(clients, stack)
    push_image(clients, repository_uri, options.get("image_tag", IMAGE_TAG))
    return seed_application(clients, stack=stack, repository_uri=repository_uri, **options)


def main() -> None:
    """A seeded stand-in on a port, until Ctrl-C; prints the variables that point the CLI at it."""
    import argparse

    from moto.server import ThreadedMotoServer

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=5055)
    port = parser.parse_args().port
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ["MOTO_ECS_SERVICE_RUNNING"] = "1"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    seed_everything(Clients(endpoint))
    print(
        f"export AWS_ENDPOINT_URL={endpoint} AWS_REGION={REGION} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
