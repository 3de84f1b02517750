"""VPC over two availability zones (the seed's vpc.tf), in one of two egress modes.

- public: Airflow tasks sit in the public subnets with a public IP and security groups without
  inbound rules from the internet; they reach ECR, CloudWatch Logs, Secrets Manager and SQS
  through the internet gateway. No NAT gateway to pay for.
- private: tasks sit in private subnets and reach AWS APIs through NAT gateways.

In both modes the database sits in isolated subnets (no route to the internet), and a free S3
gateway endpoint carries ECR's image layers (stored in S3) and the task-log bucket traffic.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from airflow_ecs.common import retention
from airflow_ecs.settings import DeploymentSettings


class Network(Construct):
    def __init__(self, scope: Construct, id: str, *, settings: DeploymentSettings) -> None:
        super().__init__(scope, id)
        private = settings.egress == "private"
        subnets = [
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
            ec2.SubnetConfiguration(name="database", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
        ]
        if private:
            subnets.append(
                ec2.SubnetConfiguration(name="tasks", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22)
            )
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(settings.vpc_cidr),
            max_azs=2,
            nat_gateways=settings.nat_gateways if private else 0,
            subnet_configuration=subnets,
            # Cloud Map private DNS (api-server discovery) needs both.
            enable_dns_hostnames=True,
            enable_dns_support=True,
            # Nothing uses the default security group; stripping its rules would need a custom resource.
            restrict_default_security_group=False,
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        )
        # Rejected traffic only: enough to debug a security group, a fraction of the cost of ALL.
        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=retention(settings.log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.vpc.add_flow_log(
            "RejectedTraffic",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.assign_public_ip = not private
        self.task_subnets = ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS if private else ec2.SubnetType.PUBLIC
        )
        self.load_balancer_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
        self.database_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
