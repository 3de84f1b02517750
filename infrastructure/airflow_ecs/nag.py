"""cdk-nag AwsSolutions findings we accept, each on the narrowest construct, with its reason.

Findings that depend on a setting (e.g. Multi-AZ) are acknowledged only when the setting
chooses the cheaper option, and the reason names the setting that turns the check green.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from constructs import IConstruct

from airflow_ecs.api_server import PublicEndpoint

if TYPE_CHECKING:
    from airflow_ecs.airflow_service import AirflowService
    from airflow_ecs.stack import AirflowStack
    from airflow_ecs.standalone_task import StandaloneTask


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-{rule}", reason=reason))


def _ref(construct: IConstruct, attribute: str = "") -> str:
    """How cdk-nag writes a reference to `construct`'s resource in a finding id: <LogicalId.Attr>."""
    stack = cdk.Stack.of(construct)
    resource = construct.node.default_child
    assert isinstance(resource, cdk.CfnElement), f"{construct.node.path} has no CloudFormation resource"
    logical_id = stack.resolve(stack.get_logical_id(resource))
    return f"<{logical_id}{attribute}>"


LAMBDA_LOGS_POLICY = "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"


def acknowledge_findings(stack: AirflowStack) -> None:
    settings = stack.settings

    # Secrets.
    secrets = stack.secrets
    _ack(
        secrets.fernet_seed,
        "SMG4",
        "Rotating the Fernet seed makes every stored connection and variable unreadable; rotate deliberately with `airflow rotate-fernet-key`.",
    )
    _ack(
        secrets.jwt_secret,
        "SMG4",
        "Tasks read the JWT secret once at start; an automatic rotation would split running components between two keys and fail task tokens. Rotate with a deploy.",
    )
    _ack(
        secrets.api_secret_key,
        "SMG4",
        "Tasks read the API secret key once at start; an automatic rotation would log users out and split components between two keys. Rotate with a deploy.",
    )
    _ack(
        secrets.admin_password,
        "SMG4",
        "The admin password is reset from this secret by `init` on every deploy; rotate by changing the secret and deploying.",
    )
    _ack(
        stack.metadata_db.instance,
        "SMG4",
        "ECS injects the DB password only when a task starts: a rotation would break every running component until it restarts. Rotate with a deploy.",
    )

    # Database.
    db = stack.metadata_db.instance
    _ack(
        db,
        "RDS11",
        "The database sits in isolated subnets and admits only the Airflow tasks' security groups; a non-default port adds no protection.",
    )
    if not settings.db_multi_az:
        _ack(
            db,
            "RDS3",
            f"Profile {settings.name}: single-AZ to halve the cost; set db_multi_az=True (the prod profile does) for a standby.",
        )
    if not settings.db_deletion_protection:
        _ack(
            db,
            "RDS10",
            f"Profile {settings.name}: a disposable environment must delete cleanly; set db_deletion_protection=True (the prod profile does).",
        )

    if not settings.container_insights:
        _ack(
            stack.cluster.cluster,
            "ECS4",
            f"Profile {settings.name}: Container Insights off, its per-service and per-task-family custom metrics cost more than the tasks they watch here; ECS's free service CPU and memory metrics remain. Set container_insights=True (the prod profile does).",
        )

    # Broker: Airflow, not SQS, owns retries.
    _ack(
        stack.broker.default_queue,
        "SQS3",
        "A message that repeatedly fails is a task instance Airflow already tracks: its task_queued_timeout re-queues it and its retries apply. A DLQ would hide work from Airflow.",
    )

    # Public endpoint.
    endpoint = stack.endpoint
    if isinstance(endpoint, PublicEndpoint):
        # Open to the internet only with HTTPS: settings.validate refuses plain_http with an open
        # allowed_client_cidrs, so this reason is true wherever it is given.
        if any(cidr in ("0.0.0.0/0", "::/0") for cidr in settings.allowed_client_cidrs):
            assert settings.certificate_arn is not None
            _ack(
                endpoint.security_group,
                "EC23",
                f"Profile {settings.name}: the UI is served only over HTTPS (certificate_arn; port 80 only redirects) to allowed_client_cidrs={list(settings.allowed_client_cidrs)}, and every page and API call needs Airflow's login; narrow allowed_client_cidrs to restrict it.",
            )
        _ack(
            endpoint.access_logs,
            "S1",
            "This bucket holds the load balancer's access logs; logging access to the log bucket itself would need yet another bucket.",
        )
    else:
        _ack(
            endpoint.route,
            "APIG4",
            "Every UI page and REST call is authenticated by Airflow itself (its login and JWT tokens); an API Gateway authorizer would need a second login. allowed_client_cidrs, when narrowed, is enforced by a Lambda authorizer.",
        )
        if endpoint.allowlist is not None:
            _ack(
                endpoint.allowlist,
                LAMBDA_LOGS_POLICY,
                "AWSLambdaBasicExecutionRole only lets the allowlist authorizer write its own logs.",
            )
    if stack.task_logs.bucket is not None:
        _ack(
            stack.task_logs.bucket,
            "S1",
            "Only the deployment's own task roles write and read task logs here (IAM-scoped to task-logs/*); CloudTrail records the access.",
        )

    # Task definitions and their roles.
    tasks: list[AirflowService | StandaloneTask] = [*stack.distinct_services, stack.standalone]
    for airflow in tasks:
        task_definition = airflow.task.task_definition
        _ack(
            task_definition,
            "ECS2",
            "Only non-secret configuration is in `environment` (URLs, queue URL, logging settings); every secret comes through ECS `secrets` (tested).",
        )
        _ack(
            task_definition.obtain_execution_role(),
            "IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires '*'); image pulls are limited to this deployment's repository.",
        )
    region, account = stack.region, stack.account
    exec_logs = f"IAM5[Resource::arn:aws:logs:{region}:{account}:log-group:{_ref(stack.cluster.exec_log_group)}:*]"
    for airflow in stack.distinct_services:
        role = airflow.task.task_definition.task_role
        _ack(
            role,
            "IAM5[Resource::*]",
            "ECS Exec's ssmmessages actions support only '*'; PutMetricData (the scheduler's demand metric, the CloudWatch agent's Airflow metrics) supports only '*' and is limited by a cloudwatch:namespace condition.",
        )
        _ack(
            role,
            exec_logs,
            "ECS Exec writes session logs to new streams of the cluster's exec log group: ':*' covers that group's streams only.",
        )
    if stack.task_logs.log_group is not None:
        task_logs = f"IAM5[Resource::{_ref(stack.task_logs.log_group, '.Arn')}:*]"
        for airflow in stack.distinct_services:
            _ack(
                airflow.task.task_definition.task_role,
                task_logs,
                "Airflow writes each task's log to a new stream of this deployment's task-log group: ':*' covers that group's streams only.",
            )
    if stack.task_logs.bucket is not None:
        for airflow in stack.distinct_services:
            _ack(
                airflow.task.task_definition.task_role,
                f"IAM5[Resource::{_ref(stack.task_logs.bucket, '.Arn')}/task-logs/*]",
                "Task-log access is limited to the task-logs/* prefix of this deployment's bucket; object names are per task instance.",
            )

    # DAG bundle bucket (dag_source=s3).
    if stack.dag_bundle is not None:
        _ack(
            stack.dag_bundle.bucket,
            "S1",
            "Only operators write DAG files here (airflow-ecs dags push) and only the deployment's own task roles read them; every change is an object version kept 90 days.",
        )
        for reader in stack.dag_bundle_readers:
            _ack(
                reader.task.task_definition.task_role,
                f"IAM5[Resource::{_ref(stack.dag_bundle.bucket, '.Arn')}/*]",
                "s3:GetObject on the DAG bucket's objects: every object of this bucket is a DAG file the bundle downloads; no write.",
            )

    # Migrations-on-deploy custom resource.
    migrations = stack.migrations
    cluster_tasks = f"IAM5[Resource::arn:aws:ecs:{region}:{account}:task/{_ref(stack.cluster.cluster)}/*]"
    _ack(
        migrations.is_complete,
        cluster_tasks,
        "Task ARNs are not known in advance: ecs:DescribeTasks and ecs:StopTask (a migration past its deadline) are limited to tasks of this cluster.",
    )
    _ack(
        stack.worker.task.task_definition.task_role,
        cluster_tasks,
        "A worker sets scale-in protection on its own task, whose ARN is not known in advance: limited to tasks of this cluster.",
    )
    for function in (migrations.on_event, migrations.is_complete):
        _ack(function, LAMBDA_LOGS_POLICY, "AWSLambdaBasicExecutionRole only lets the handler write its own logs.")
    _ack(
        migrations.provider,
        LAMBDA_LOGS_POLICY,
        "CDK's custom resource Provider framework: AWSLambdaBasicExecutionRole only lets its functions write their logs.",
    )
    provider_functions: list[IConstruct] = [
        migrations.on_event,
        migrations.is_complete,
        migrations.provider.node.find_child("framework-isComplete"),
        migrations.provider.node.find_child("framework-onTimeout"),
    ]
    for provider_function in provider_functions:
        _ack(
            migrations.provider,
            f"IAM5[Resource::{_ref(provider_function, '.Arn')}:*]",
            "CDK's custom resource Provider framework invokes the versions (':*') of this construct's own functions only.",
        )
    _ack(
        migrations.provider,
        "SF1",
        "The Provider framework's waiter only polls is_complete; each poll is logged by the handler, and the migration's own output is in the standalone log group.",
    )
    _ack(
        migrations.provider,
        "SF2",
        "The Provider framework's waiter only polls is_complete; X-Ray would trace a loop of identical calls.",
    )
