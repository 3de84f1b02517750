"""How users and workers reach the api-server (Airflow 3's webserver; the seed's airflow_webserver.tf).

Users reach it through one of two public endpoints (settings.public_endpoint):
- `load-balancer`: an internet-facing Application Load Balancer open only to the allowed client
  CIDRs, HTTPS with a certificate (plain HTTP only when opted out by name);
- `api-gateway`: an HTTP API whose default route goes through a VPC link to the api-server's
  Cloud Map service: HTTPS on its own execute-api name (or a domain with a certificate), no
  hourly charge; a Lambda authorizer admits only allowed_client_cidrs when they are narrower than
  the internet (docs/decisions/0063-ui-through-an-http-api.md).
Workers reach its execution API privately through Cloud Map DNS (`api-server.<namespace>`), never
through a public endpoint.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from airflow_ecs.airflow_service import AirflowService
from airflow_ecs.common import private_log_bucket, retention
from airflow_ecs.network import Network
from airflow_ecs.settings import DeploymentSettings
from deploy_airflow_on_ecs_fargate import contract

API_PORT = contract.API_SERVER_PORT.number
DISCOVERY_NAME = "api-server"
CONTAINER_NAME = "api-server"
ALLOWLIST_HANDLER_DIR = Path(__file__).parent / "client_allowlist_handler"
# A browser session polls a few endpoints every few seconds: this leaves room for dozens of users,
# and bounds what a runaway client can cost at $1 per million requests.
THROTTLE_RATE_PER_SECOND = 50
THROTTLE_BURST = 100


def internal_url(namespace_name: str) -> str:
    """The contract's AIRFLOW_API_SERVER_URL: how other tasks reach the api-server."""
    return f"http://{DISCOVERY_NAME}.{namespace_name}:{API_PORT}"


def _open_to_everyone(cidrs: tuple[str, ...]) -> bool:
    return any(ipaddress.ip_network(cidr).prefixlen == 0 for cidr in cidrs)


class PublicEndpoint(Construct):
    """The load balancer, created before the api-server so its URL can be the UI's base URL."""

    def __init__(self, scope: Construct, id: str, *, network: Network, settings: DeploymentSettings) -> None:
        super().__init__(scope, id)
        certificate_arn = settings.certificate_arn
        https = certificate_arn is not None
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=network.vpc,
            description=f"{settings.name} load balancer",
            allow_all_outbound=False,
        )
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=network.vpc,
            vpc_subnets=network.load_balancer_subnets,
            internet_facing=True,
            security_group=self.security_group,
            drop_invalid_header_fields=True,
        )
        self.access_logs = private_log_bucket(self, "AccessLogs", expire_after_days=90)
        self.load_balancer.log_access_logs(self.access_logs, prefix="alb")
        port = 443 if https else 80
        for cidr in settings.allowed_client_cidrs:
            self.security_group.add_ingress_rule(_peer(cidr), ec2.Port.tcp(port), "allowed clients")
            if https:
                self.security_group.add_ingress_rule(
                    _peer(cidr), ec2.Port.tcp(80), "allowed clients (redirect to HTTPS)"
                )
        if certificate_arn is not None:
            self.listener = self.load_balancer.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=False,
            )
            # add_redirect() would open port 80 to the world; this one obeys allowed_client_cidrs.
            self.load_balancer.add_listener(
                "HttpRedirect",
                port=80,
                protocol=elbv2.ApplicationProtocol.HTTP,
                open=False,
                default_action=elbv2.ListenerAction.redirect(protocol="HTTPS", port="443", permanent=True),
            )
        else:
            # Only with plain_http=true and a narrow allowed_client_cidrs (settings.validate).
            self.listener = self.load_balancer.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=False
            )
        scheme = "https" if https else "http"
        host = settings.domain_name or self.load_balancer.load_balancer_dns_name
        self.url = f"{scheme}://{host}"

    def attach(self, airflow: AirflowService, discovery: servicediscovery.IService) -> None:
        """Forward to the api-server containers of `airflow`, health-checked."""
        self.target_group = self.listener.add_targets(
            "ApiServer",
            port=API_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[airflow.service.load_balancer_target(container_name=CONTAINER_NAME, container_port=API_PORT)],
            health_check=elbv2.HealthCheck(
                path=contract.API_HEALTH_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
            deregistration_delay=Duration.seconds(30),
        )


class HttpApiEndpoint(Construct):
    """An HTTP API in front of the api-server: created before it, so its URL can be the UI's base URL;
    its route is added once the api-server's Cloud Map service exists (`attach`)."""

    def __init__(self, scope: Construct, id: str, *, network: Network, settings: DeploymentSettings) -> None:
        super().__init__(scope, id)
        # The VPC link's network interfaces are the api-server's only clients from outside the tasks.
        self.security_group = ec2.SecurityGroup(
            self,
            "VpcLinkSecurityGroup",
            vpc=network.vpc,
            description=f"{settings.name} HTTP API VPC link",
            allow_all_outbound=False,
        )
        self.vpc_link = apigwv2.VpcLink(
            self, "VpcLink", vpc=network.vpc, subnets=network.task_subnets, security_groups=[self.security_group]
        )
        authorizer = None
        self.allowlist: lambda_.Function | None = None
        if not _open_to_everyone(settings.allowed_client_cidrs):
            self.allowlist = self._allowlist(settings)
            authorizer = authorizers.HttpLambdaAuthorizer(
                "ClientAllowlist",
                self.allowlist,
                response_types=[authorizers.HttpLambdaResponseType.SIMPLE],
                identity_source=["$context.identity.sourceIp"],
                # One check per client address every 5 minutes, not one per request.
                results_cache_ttl=Duration.minutes(5),
            )
        self.authorizer = authorizer
        custom_domain = settings.domain_name is not None
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=settings.name,
            description=f"{settings.name}: Airflow UI and REST API",
            # With a domain of its own, the domain (and its certificate) is the only way in.
            disable_execute_api_endpoint=custom_domain,
        )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention(settings.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        stage = self.api.default_stage
        assert stage is not None
        cfn_stage = stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn,
            format=(
                '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
                '"time":"$context.requestTime","method":"$context.httpMethod","path":"$context.path",'
                '"status":"$context.status","latency":"$context.integrationLatency",'
                '"error":"$context.integrationErrorMessage","authorizer":"$context.authorizer.error"}'
            ),
        )
        cfn_stage.default_route_settings = apigwv2.CfnStage.RouteSettingsProperty(
            throttling_rate_limit=THROTTLE_RATE_PER_SECOND, throttling_burst_limit=THROTTLE_BURST
        )
        if custom_domain:
            assert settings.domain_name is not None and settings.certificate_arn is not None
            self.domain = apigwv2.DomainName(
                self,
                "Domain",
                domain_name=settings.domain_name,
                certificate=acm.Certificate.from_certificate_arn(self, "Certificate", settings.certificate_arn),
                security_policy=apigwv2.SecurityPolicy.TLS_1_2,
            )
            apigwv2.ApiMapping(self, "Mapping", api=self.api, domain_name=self.domain, stage=stage)
            self.url = f"https://{settings.domain_name}"
        else:
            self.url = self.api.api_endpoint

    def _allowlist(self, settings: DeploymentSettings) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            "ClientAllowlistLogs",
            retention=retention(settings.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        return lambda_.Function(
            self,
            "ClientAllowlist",
            description=f"{settings.name}: admit only allowed_client_cidrs to the HTTP API",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(ALLOWLIST_HANDLER_DIR), exclude=["__pycache__"]),
            environment={"ALLOWED_CLIENT_CIDRS": ",".join(settings.allowed_client_cidrs)},
            memory_size=128,
            timeout=Duration.seconds(5),
            log_group=log_group,
        )

    def attach(self, airflow: AirflowService, discovery: servicediscovery.IService) -> None:
        """Every path and method to the api-server, through the VPC link to its Cloud Map service."""
        # Unlike a load balancer's target group, an integration opens no security group by itself.
        airflow.connections.allow_from(self.security_group, ec2.Port.tcp(API_PORT), "HTTP API VPC link")
        self.route = apigwv2.HttpRoute(
            self,
            "DefaultRoute",
            http_api=self.api,
            route_key=apigwv2.HttpRouteKey.DEFAULT,
            integration=integrations.HttpServiceDiscoveryIntegration(
                "ApiServer", discovery, vpc_link=self.vpc_link, timeout=Duration.seconds(30)
            ),
            authorizer=self.authorizer,
        )


Endpoint = PublicEndpoint | HttpApiEndpoint


def public_endpoint(scope: Construct, *, network: Network, settings: DeploymentSettings) -> Endpoint:
    if settings.public_endpoint == "api-gateway":
        return HttpApiEndpoint(scope, "HttpApi", network=network, settings=settings)
    return PublicEndpoint(scope, "PublicEndpoint", network=network, settings=settings)


def register_api_server(
    airflow: AirflowService, namespace: servicediscovery.INamespace, *, with_port: bool
) -> servicediscovery.IService:
    """The api-server's Cloud Map name: an A record for workers' DNS, and with `with_port` an SRV
    record too, which carries the port an HTTP API's private integration needs."""
    container = airflow.task.containers[CONTAINER_NAME]
    if not with_port:
        return airflow.service.enable_cloud_map(
            cloud_map_namespace=namespace,
            name=DISCOVERY_NAME,
            dns_record_type=servicediscovery.DnsRecordType.A,
            dns_ttl=Duration.seconds(10),
        )
    discovery = airflow.service.enable_cloud_map(
        cloud_map_namespace=namespace,
        name=DISCOVERY_NAME,
        dns_record_type=servicediscovery.DnsRecordType.SRV,
        dns_ttl=Duration.seconds(10),
        container=container,
        container_port=API_PORT,
    )
    # ECS registers both record types for an awsvpc task; CDK offers one, so the A record that
    # workers resolve is added to the same Cloud Map service here.
    cfn = discovery.node.default_child
    assert isinstance(cfn, servicediscovery.CfnService)
    cfn.add_property_override(
        "DnsConfig.DnsRecords",
        [{"Type": "A", "TTL": 10}, {"Type": "SRV", "TTL": 10}],
    )
    return discovery


def _peer(cidr: str) -> ec2.IPeer:
    return ec2.Peer.ipv6(cidr) if ":" in cidr else ec2.Peer.ipv4(cidr)


def grace_period(settings: DeploymentSettings) -> Duration | None:
    """How long the load balancer's health checks are ignored after a task starts (None: no balancer)."""
    return Duration.seconds(180) if settings.public_endpoint == "load-balancer" else None
