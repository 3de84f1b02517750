"""The api-server (Airflow 3's webserver; the seed's airflow_webserver.tf) behind a load balancer.

Users reach it through an internet-facing Application Load Balancer open only to the allowed
client CIDRs (HTTPS when a certificate is given). Workers reach its execution API privately
through Cloud Map DNS (`api-server.<namespace>`), never through the public load balancer.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from airflow_ecs.airflow_service import AirflowService
from airflow_ecs.airflow_task import AirflowRuntime
from airflow_ecs.common import private_log_bucket
from airflow_ecs.network import Network
from airflow_ecs.settings import DeploymentSettings
from deploy_airflow_on_ecs_fargate import contract

API_PORT = contract.API_SERVER_PORT.number
DISCOVERY_NAME = "api-server"


def internal_url(namespace_name: str) -> str:
    """The contract's AIRFLOW_API_SERVER_URL: how other tasks reach the api-server."""
    return f"http://{DISCOVERY_NAME}.{namespace_name}:{API_PORT}"


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
            self.listener = self.load_balancer.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=False
            )
        scheme = "https" if https else "http"
        host = settings.domain_name or self.load_balancer.load_balancer_dns_name
        self.url = f"{scheme}://{host}"


class ApiServer(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        runtime: AirflowRuntime,
        cluster: ecs.ICluster,
        network: Network,
        endpoint: PublicEndpoint,
        namespace: servicediscovery.IPrivateDnsNamespace,
    ) -> None:
        super().__init__(scope, id)
        settings = runtime.settings
        self.airflow = AirflowService(
            self,
            "Service",
            runtime=runtime,
            component=contract.component("api-server"),
            size=settings.api_server,
            cluster=cluster,
            vpc=network.vpc,
            subnets=network.task_subnets,
            assign_public_ip=network.assign_public_ip,
            cloud_map_options=ecs.CloudMapOptions(
                cloud_map_namespace=namespace,
                name=DISCOVERY_NAME,
                dns_record_type=servicediscovery.DnsRecordType.A,
                dns_ttl=Duration.seconds(10),
            ),
            health_check_grace_period=Duration.seconds(180),
        )
        self.service = self.airflow.service
        self.target_group = endpoint.listener.add_targets(
            "ApiServer",
            port=API_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.service.load_balancer_target(container_name=DISCOVERY_NAME, container_port=API_PORT)],
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


def _peer(cidr: str) -> ec2.IPeer:
    return ec2.Peer.ipv6(cidr) if ":" in cidr else ec2.Peer.ipv4(cidr)
