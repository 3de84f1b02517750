"""The two stacks of a deployment and the wiring between constructs (grants, rules, outputs).

- `<name>-registry`: the ECR repository, deployed first so the image can be pushed.
- `<name>`: everything else; the image tag is the deploy-time parameter `ImageTag`.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, CfnParameter, CfnRule, CfnRuleAssertion, Environment, Fn, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from airflow_ecs.airflow_service import AirflowService
from airflow_ecs.airflow_task import AirflowRuntime
from airflow_ecs.alarms import DeploymentAlarms
from airflow_ecs.api_server import (
    API_PORT,
    HttpApiEndpoint,
    grace_period,
    internal_url,
    public_endpoint,
    register_api_server,
)
from airflow_ecs.celery_broker import CeleryBroker
from airflow_ecs.cluster import Cluster
from airflow_ecs.dag_bundle import DagBundle
from airflow_ecs.dashboard import OperationsDashboard
from airflow_ecs.db_clean import DbCleanSchedule
from airflow_ecs.metadata_db import MetadataDatabase
from airflow_ecs.metrics_agent import MetricsAgent, statsd_namespace
from airflow_ecs.migrations import MigrationsOnDeploy
from airflow_ecs.network import Network
from airflow_ecs.observability import Observed
from airflow_ecs.registry import Registry
from airflow_ecs.scheduled_scaling import ScheduledScaling
from airflow_ecs.secrets import AirflowSecrets
from airflow_ecs.settings import ComponentSize, DeploymentSettings, sized_components
from airflow_ecs.standalone_task import StandaloneTask
from airflow_ecs.task_logs import TaskLogs
from airflow_ecs.worker_scaling import WorkerScaling
from deploy_airflow_on_ecs_fargate import contract, worker_demand

# git sha or semantic version; never `latest` (a tag must name one image).
IMAGE_TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"


def _environment(settings: DeploymentSettings) -> Environment:
    return Environment(account=settings.account, region=settings.region)


def _key(component: str) -> str:
    """`dag-processor` -> `DagProcessor`: construct ids and output names."""
    return "".join(part.title() for part in component.split("-"))


def _tag(stack: Stack, settings: DeploymentSettings) -> None:
    # Every taggable resource of the stack, for cost allocation; ECS services pass them on to
    # their tasks (propagate_tags), so running tasks carry them too.
    for key, value in settings.tags.items():
        Tags.of(stack).add(key, value)


class RegistryStack(Stack):
    def __init__(self, scope: Construct, id: str, *, settings: DeploymentSettings) -> None:
        super().__init__(
            scope, id, env=_environment(settings), description=f"{settings.name}: Airflow image repository"
        )
        self.registry = Registry(self, "Registry", settings=settings)
        CfnOutput(self, "RepositoryUri", value=self.registry.repository.repository_uri)
        _tag(self, settings)


class AirflowStack(Stack):
    def __init__(self, scope: Construct, id: str, *, settings: DeploymentSettings, repository: ecr.IRepository) -> None:
        super().__init__(
            scope, id, env=_environment(settings), description=f"{settings.name}: Apache Airflow 3 on ECS Fargate"
        )
        self.settings = settings
        self.image_tag = CfnParameter(
            self,
            "ImageTag",
            type="String",
            description="Tag of the Airflow image in the registry stack's repository (git sha or version)",
            allowed_pattern=IMAGE_TAG_PATTERN,
            constraint_description="an image tag such as a git sha or 1.4.0",
        )
        CfnRule(
            self,
            "ImageTagIsNotLatest",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_not(Fn.condition_equals(self.image_tag.value_as_string, "latest")),
                    assert_description="ImageTag must name one image (git sha or version), not 'latest'",
                )
            ],
        )

        self.network = Network(self, "Network", settings=settings)
        vpc = self.network.vpc
        self.cluster = Cluster(self, "Cluster", settings=settings, vpc=vpc)
        cluster = self.cluster.cluster
        self.secrets = AirflowSecrets(self, "Secrets", settings=settings)
        self.metadata_db = MetadataDatabase(
            self, "MetadataDb", settings=settings, vpc=vpc, subnets=self.network.database_subnets
        )
        self.broker = CeleryBroker(self, "CeleryBroker", settings=settings)
        self.task_logs = TaskLogs(self, "TaskLogs", settings=settings)
        # DAGs from a bucket (an Airflow DAG bundle) unless they are baked into the image.
        self.dag_bundle = DagBundle(self, "DagBundle") if settings.dag_source == "s3" else None
        self.namespace = servicediscovery.PrivateDnsNamespace(
            self, "Discovery", name=f"{settings.name}.internal", vpc=vpc, description="Airflow service discovery"
        )
        self.endpoint = public_endpoint(self, network=self.network, settings=settings)

        db_secret = self.metadata_db.secret
        runtime = AirflowRuntime(
            settings=settings,
            image=ecs.ContainerImage.from_ecr_repository(repository, tag=self.image_tag.value_as_string),
            environment={
                contract.API_SERVER_URL.name: internal_url(self.namespace.namespace_name),
                # Links in the UI and in notifications point at what users open.
                "AIRFLOW__API__BASE_URL": self.endpoint.url,
                # Every container, not only scheduler and workers: Airflow imports the Celery
                # config (which reads these) wherever it loads the Celery executor.
                **self.broker.environment(),
                **self.task_logs.environment(),
                **(self.dag_bundle.environment() if self.dag_bundle is not None else {}),
            },
            secrets={
                contract.DB_HOST.name: ecs.Secret.from_secrets_manager(db_secret, "host"),
                contract.DB_PORT.name: ecs.Secret.from_secrets_manager(db_secret, "port"),
                contract.DB_USER.name: ecs.Secret.from_secrets_manager(db_secret, "username"),
                contract.DB_PASSWORD.name: ecs.Secret.from_secrets_manager(db_secret, "password"),
                contract.DB_NAME.name: ecs.Secret.from_secrets_manager(db_secret, "dbname"),
                contract.FERNET_SEED.name: ecs.Secret.from_secrets_manager(self.secrets.fernet_seed),
                contract.JWT_SECRET.name: ecs.Secret.from_secrets_manager(self.secrets.jwt_secret),
                contract.API_SECRET_KEY.name: ecs.Secret.from_secrets_manager(self.secrets.api_secret_key),
            },
        )
        # The scheduler's publisher puts the workers' demand metric here (and nowhere else).
        self.metric_namespace = worker_demand.NAMESPACE_PREFIX + settings.name
        # Airflow's own metrics: a CloudWatch agent beside the components that send kept ones.
        self.metrics_agent = (
            MetricsAgent(statsd_namespace(self.metric_namespace), settings.region) if settings.metrics else None
        )
        # A service per long-running component of the catalogue, except those sized None: they are
        # containers of the one control-plane task (settings.control_plane_task). A component
        # that runs beside another (the worker-demand publisher beside the scheduler) is one more
        # container of that one's task.
        self.services: dict[str, AirflowService] = {}
        shared = [contract.component(name) for name in settings.shared_components]
        if shared:
            assert settings.control_plane_task is not None
            control_plane = self._service(self, "ControlPlane", runtime, shared, settings.control_plane_task)
            self.services.update({c.name: control_plane for c in control_plane.components})
        for component in sized_components():
            size = settings.size_of(component.name)
            if size is not None:
                # The api-server's service keeps the construct path (and logical ids) it always had.
                scope = Construct(self, "ApiServer") if component.name == "api-server" else self
                key = "Service" if component.name == "api-server" else _key(component.name)
                service = self._service(scope, key, runtime, [component], size)
                self.services.update({c.name: service for c in service.components})
        self.api_service = self.services["api-server"]
        self.scheduler = self.services["scheduler"]
        self.dag_processor = self.services["dag-processor"]
        self.triggerer = self.services["triggerer"]
        self.worker = self.services["worker"]
        self.discovery = register_api_server(
            self.api_service, self.namespace, with_port=isinstance(self.endpoint, HttpApiEndpoint)
        )
        self.endpoint.attach(self.api_service, self.discovery)
        self.worker_scaling = WorkerScaling(
            self, "WorkerScaling", service=self.worker.service, settings=settings, namespace=self.metric_namespace
        )
        self.standalone = StandaloneTask(
            self,
            "StandaloneTask",
            runtime=runtime,
            vpc=vpc,
            admin_password=ecs.Secret.from_secrets_manager(self.secrets.admin_password),
        )
        self.task_subnets = vpc.select_subnets(subnet_type=self.network.task_subnets.subnet_type).subnets
        self.migrations = MigrationsOnDeploy(
            self,
            "Migrations",
            settings=settings,
            cluster=cluster,
            standalone=self.standalone,
            subnets=self.task_subnets,
            assign_public_ip=self.network.assign_public_ip,
        )

        self._allow_traffic()
        self._grant_permissions()
        self._order_deployment()
        if settings.db_clean is not None:
            self.db_clean = DbCleanSchedule(
                self,
                "DbClean",
                clean=settings.db_clean,
                cluster=cluster,
                standalone=self.standalone,
                subnets=self.network.task_subnets,
                assign_public_ip=self.network.assign_public_ip,
            )
        if settings.scheduled_scaling is not None:
            self.scheduled_scaling = ScheduledScaling(
                self,
                "ScheduledScaling",
                schedule=settings.scheduled_scaling,
                # Workers scale with their queue, not with the clock.
                services=[(service.service, service.size.count) for service in self.control_plane_services],
            )
        self._observe()
        self._outputs()
        _tag(self, settings)

    @property
    def distinct_services(self) -> list[AirflowService]:
        """Each ECS service once (the control-plane task's service runs several components)."""
        return list({id(service): service for service in self.services.values()}.values())

    @property
    def dag_bundle_readers(self) -> list[AirflowService | StandaloneTask]:
        """The task definitions that read the DAG bucket, each once (dev's control plane is one)."""
        readers: list[AirflowService | StandaloneTask] = [self.dag_processor, self.worker, self.standalone]
        return list({id(reader): reader for reader in readers}.values())

    @property
    def control_plane_services(self) -> list[AirflowService]:
        return [service for service in self.distinct_services if service is not self.worker]

    def _service(
        self, scope: Construct, id: str, runtime: AirflowRuntime, components: list, size: ComponentSize
    ) -> AirflowService:
        names = [component.name for component in components]
        beside = [c for c in contract.LONG_RUNNING if c.runs_beside in names]
        return AirflowService(
            scope,
            id,
            runtime=runtime,
            components=[*components, *beside],
            size=size,
            name="control-plane" if len(components) > 1 else None,
            extra_environment={
                c.name: {**self._component_environment(c.name), **self._metrics_environment(c.name)}
                for c in [*components, *beside]
            },
            cluster=self.cluster.cluster,
            vpc=self.network.vpc,
            subnets=self.network.task_subnets,
            assign_public_ip=self.network.assign_public_ip,
            # The load balancer ignores a new api-server's health checks while it starts.
            health_check_grace_period=grace_period(self.settings) if "api-server" in names else None,
            **self._component_options(names),
            metrics_agent=(
                self.metrics_agent if any(c.name in contract.METRIC_EMITTERS for c in [*components, *beside]) else None
            ),
        )

    def _metrics_environment(self, name: str) -> dict[str, str]:
        """Airflow's StatsD settings for a component whose metrics the deployment keeps."""
        if self.metrics_agent is None or name not in contract.METRIC_EMITTERS:
            return {}
        return self.metrics_agent.airflow_environment()

    def _observe(self) -> None:
        """The dashboard and the alarms (dashboard.py, alarms.py)."""
        observed = Observed(
            settings=self.settings,
            services=self.services,
            queue=self.broker.default_queue,
            database=self.metadata_db.instance,
            endpoint=self.endpoint,
            deployment_namespace=self.metric_namespace,
            statsd_namespace=self.metrics_agent.namespace if self.metrics_agent is not None else None,
        )
        self.alarms = DeploymentAlarms(self, "Alarms", observed=observed)
        self.dashboard = OperationsDashboard(self, "Dashboard", observed=observed, alarms=self.alarms.alarms)

    def _component_environment(self, name: str) -> dict[str, str]:
        """What one component's container is given beyond the runtime's shared environment."""
        settings = self.settings
        concurrency = {"AIRFLOW__CELERY__WORKER_CONCURRENCY": str(settings.worker_concurrency)}
        if name == "worker":
            return concurrency
        if name == "worker-demand":
            # The publisher's arithmetic: slots per worker, the most workers, the hold before scale-in.
            return {
                **concurrency,
                contract.METRIC_NAMESPACE.name: self.metric_namespace,
                contract.WORKER_MAX_COUNT.name: str(settings.worker_max_count),
                contract.WORKER_SCALE_IN_AFTER_SECONDS.name: str(settings.worker_scale_in_after_seconds),
            }
        return {}

    def _component_options(self, names: list[str]) -> dict:
        """What the worker's service needs beyond the catalogue."""
        if names != ["worker"]:
            return {}
        settings = self.settings
        spot = ecs.CapacityProviderStrategy(capacity_provider="FARGATE_SPOT", weight=settings.worker_spot_weight)
        on_demand = ecs.CapacityProviderStrategy(
            capacity_provider="FARGATE",
            weight=settings.worker_on_demand_weight,
            base=settings.worker_on_demand_base or None,
        )
        return {
            # A provider with weight 0 still takes its base (the first workers) when it has one.
            "capacity_provider_strategies": [s for s in (spot, on_demand) if s.weight or s.base],
        }

    def _allow_traffic(self) -> None:
        api = self.api_service
        airflow_tasks: list[AirflowService | StandaloneTask] = [*self.distinct_services, self.standalone]
        for task in airflow_tasks:
            self.metadata_db.instance.connections.allow_default_port_from(task.connections, "Airflow task")
            if task is not api:
                # Execution API (workers), and the REST API for one-off commands.
                api.connections.allow_from(task.connections, ec2.Port.tcp(API_PORT), "execution API")
        # The catalogue's ports with clients, e.g. the UI fetching running tasks' logs from the
        # worker's and the triggerer's log servers.
        for name, service in self.services.items():
            for port in contract.component(name).ports:
                for client in port.clients:
                    # Containers of one task reach each other inside it, past every security group.
                    if self.services[client] is not service:
                        service.connections.allow_from(
                            self.services[client].connections, ec2.Port.tcp(port.number), port.purpose
                        )

    def _grant_permissions(self) -> None:
        role = lambda service: service.task.task_definition.task_role  # noqa: E731
        self.broker.default_queue.grant_send_messages(role(self.scheduler))
        self.broker.default_queue.grant_consume_messages(role(self.worker))
        for writer in (self.worker, self.triggerer, self.dag_processor):
            self.task_logs.grant_write(role(writer))
        self.task_logs.grant_read(role(self.api_service))
        if self.dag_bundle is not None:
            # The dag-processor parses the bucket, each task fetches it, one-off tasks may test DAGs.
            for reader in self.dag_bundle_readers:
                self.dag_bundle.grant_read(reader.task.task_definition.task_role)
        # Metrics for worker autoscaling go to this deployment's namespace only.
        role(self.scheduler).add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": self.metric_namespace}},
            )
        )
        # A worker protects itself from scale-in while it runs tasks (its ECS agent endpoint
        # calls these with the task role); tasks of this cluster only.
        role(self.worker).add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"],
                resources=[
                    Stack.of(self).format_arn(
                        service="ecs", resource="task", resource_name=f"{self.cluster.cluster.cluster_name}/*"
                    )
                ],
            )
        )

    def _order_deployment(self) -> None:
        run = self.migrations.resource
        # The migration task needs the database, its route to AWS APIs and its ingress rule,
        # and the cluster's capacity providers.
        run.node.add_dependency(self.metadata_db, self.network, self.cluster)
        for airflow in self.distinct_services:
            airflow.service.node.add_dependency(run)

    def _outputs(self) -> None:
        def output(name: str, value: str, description: str) -> None:
            CfnOutput(self, name, value=value, description=description)

        output("ClusterName", self.cluster.cluster.cluster_name, "ECS cluster")
        # Per component, as the operator tool looks them up: in the control-plane task several
        # components name the same service, each with its own container and log group.
        # A component that runs beside another (contract.SERVICES leaves it out) has a log group
        # of its own but no service name: the operator tool scales and reports services.
        for component, airflow in self.services.items():
            key = _key(component)
            if component in contract.SERVICE_NAMES:
                output(f"{key}ServiceName", airflow.service.service_name, f"{component} ECS service")
            output(f"{key}LogGroup", airflow.task.log_groups[component].log_group_name, f"{component} container logs")
        output(
            "StandaloneTaskDefinitionArn",
            self.standalone.task_definition.task_definition_arn,
            "task definition for one-off commands (latest revision at deploy time)",
        )
        output("StandaloneTaskFamily", self.standalone.task_definition.family, "family of the standalone task")
        output("StandaloneContainerName", self.standalone.task.container_name, "container to override the command of")
        output(
            "StandaloneSecurityGroup",
            self.standalone.security_group.security_group_id,
            "security group for one-off tasks",
        )
        output(
            "StandaloneLogGroup", self.standalone.task.log_group.log_group_name, "logs of one-off tasks and migrations"
        )
        output("TaskSubnets", Fn.join(",", [subnet.subnet_id for subnet in self.task_subnets]), "subnets for tasks")
        output(
            "AssignPublicIp",
            "ENABLED" if self.network.assign_public_ip else "DISABLED",
            "awsvpc assignPublicIp for tasks",
        )
        output("QueueUrl", self.broker.default_queue.queue_url, "Celery default queue")
        output("LoadBalancerUrl", self.endpoint.url, "Airflow UI and REST API")
        output("TaskLogLocation", self.task_logs.location, f"remote task logs ({self.settings.task_logs})")
        output("MetricNamespace", self.metric_namespace, "CloudWatch namespace the scheduler may publish to")
        if self.dag_bundle is not None:
            output("DagBucketName", self.dag_bundle.bucket.bucket_name, "DAG files (airflow-ecs dags push)")
