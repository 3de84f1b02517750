"""The public endpoint: ALB open only to allowed clients, HTTPS when a certificate is given."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.infrastructure.templates import CERTIFICATE, container, resources


def _client_rules(template: dict) -> list[tuple[str, int]]:
    (group,) = [g for n, g in resources(template, "AWS::EC2::SecurityGroup").items() if n.startswith("PublicEndpoint")]
    return sorted((r["CidrIp"], r["FromPort"]) for r in group["Properties"]["SecurityGroupIngress"])


def test_http_load_balancer_forwards_to_the_api_server_health_checked(templates, raw_templates):
    template = templates["dev"]
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internet-facing"})
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {"Port": 80, "Protocol": "HTTP"})
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {"Port": 8080, "HealthCheckPath": "/api/v2/monitor/health", "Matcher": {"HttpCode": "200"}, "TargetType": "ip"},
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {"LoadBalancerAttributes": Match.array_with([{"Key": "access_logs.s3.enabled", "Value": "true"}])},
    )
    assert _client_rules(raw_templates["dev"]) == [("0.0.0.0/0", 80)]
    # Shipped as is, prod too serves plain HTTP to everyone until given a certificate and CIDRs.
    assert _client_rules(raw_templates["prod"]) == [("0.0.0.0/0", 80)]


def test_https_when_a_certificate_is_given_and_only_allowed_clients(templates, raw_templates):
    template = templates["prod-https"]
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {"Port": 443, "Protocol": "HTTPS", "Certificates": [{"CertificateArn": CERTIFICATE}]},
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "Port": 80,
            "DefaultActions": [
                Match.object_like({"Type": "redirect", "RedirectConfig": Match.object_like({"Protocol": "HTTPS"})})
            ],
        },
    )
    assert _client_rules(raw_templates["prod-https"]) == [
        ("198.51.100.7/32", 80),
        ("198.51.100.7/32", 443),
        ("203.0.113.0/24", 80),
        ("203.0.113.0/24", 443),
    ]
    environment = {e["Name"]: e["Value"] for e in container(raw_templates["prod-https"], "api-server")["Environment"]}
    assert environment["AIRFLOW__API__BASE_URL"] == "https://airflow.example.com"
