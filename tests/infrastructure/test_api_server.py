"""The public endpoint: dev's HTTP API (HTTPS on its own name, no load balancer), prod's load
balancer (HTTPS with a certificate, plain HTTP only when opted out by name), each open only to the
allowed clients."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from airflow_ecs.client_allowlist_handler import index as allowlist
from tests.infrastructure.templates import CERTIFICATE, NARROW, container, resources


def _client_rules(template: dict) -> list[tuple[str, int]]:
    (group,) = [g for n, g in resources(template, "AWS::EC2::SecurityGroup").items() if n.startswith("PublicEndpoint")]
    return sorted((r["CidrIp"], r["FromPort"]) for r in group["Properties"]["SecurityGroupIngress"])


def _base_url(template: dict):
    environment = {e["Name"]: e["Value"] for e in container(template, "api-server")["Environment"]}
    return environment["AIRFLOW__API__BASE_URL"]


def test_dev_serves_the_ui_through_an_http_api_and_a_vpc_link_without_a_load_balancer(templates, raw_templates):
    template = templates["dev"]
    template.resource_count_is("AWS::ElasticLoadBalancingV2::LoadBalancer", 0)
    template.has_resource_properties("AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP"})
    raw = raw_templates["dev"]
    (discovery,) = resources(raw, "AWS::ServiceDiscovery::Service")
    (link,) = resources(raw, "AWS::ApiGatewayV2::VpcLink").values()
    assert len(link["Properties"]["SubnetIds"]) == 2
    (integration,) = resources(raw, "AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["ConnectionType"] == "VPC_LINK"
    # The api-server's Cloud Map service (its SRV record carries the port).
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": [discovery, "Arn"]}
    (route,) = resources(raw, "AWS::ApiGatewayV2::Route").values()
    assert route["Properties"]["RouteKey"] == "$default"
    assert route["Properties"].get("AuthorizationType", "NONE") == "NONE"  # open allowlist: no authorizer
    (stage,) = resources(raw, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][1] == "Arn"
    assert stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] == 50
    # HTTPS on the API's own execute-api name: the UI's links and the stack output point there.
    (api,) = resources(raw, "AWS::ApiGatewayV2::Api")
    assert _base_url(raw) == raw["Outputs"]["LoadBalancerUrl"]["Value"] == {"Fn::GetAtt": [api, "ApiEndpoint"]}


def test_the_http_api_honours_a_client_allowlist_and_a_domain_of_its_own(templates, raw_templates):
    raw = raw_templates["dev-allowlist"]
    (function,) = [
        f for f in resources(raw, "AWS::Lambda::Function").values() if "ALLOWED_CLIENT_CIDRS" in str(f["Properties"])
    ]
    assert function["Properties"]["Environment"]["Variables"]["ALLOWED_CLIENT_CIDRS"] == ",".join(NARROW)
    (authorizer,) = resources(raw, "AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["Properties"]["IdentitySource"] == ["$context.identity.sourceIp"]
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == 300
    (route,) = resources(raw, "AWS::ApiGatewayV2::Route").values()
    assert route["Properties"]["AuthorizationType"] == "CUSTOM"
    templates["dev-allowlist"].has_resource_properties(
        "AWS::ApiGatewayV2::DomainName",
        {
            "DomainName": "airflow.example.com",
            "DomainNameConfigurations": [
                Match.object_like({"CertificateArn": CERTIFICATE, "SecurityPolicy": "TLS_1_2"})
            ],
        },
    )
    templates["dev-allowlist"].has_resource_properties("AWS::ApiGatewayV2::Api", {"DisableExecuteApiEndpoint": True})
    assert _base_url(raw) == "https://airflow.example.com"


@pytest.mark.parametrize(
    ("source", "allowed"),
    [("203.0.113.9", True), ("198.51.100.7", True), ("198.51.100.8", False), ("not-an-address", False), ("", False)],
)
def test_the_allowlist_authorizer_admits_only_the_allowed_addresses(source, allowed):
    networks = allowlist.allowed_networks(",".join(NARROW))
    assert allowlist.is_allowed(source, networks) is allowed
    event = {"requestContext": {"http": {"sourceIp": source}}}
    original, allowlist.ALLOWED = allowlist.ALLOWED, networks
    try:
        assert allowlist.handler(event, None) == {"isAuthorized": allowed}
    finally:
        allowlist.ALLOWED = original


def test_prod_serves_https_and_redirects_http_open_to_everyone_by_default(templates, raw_templates):
    template = templates["prod"]
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internet-facing"})
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
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {"Port": 8080, "HealthCheckPath": "/api/v2/monitor/health", "Matcher": {"HttpCode": "200"}, "TargetType": "ip"},
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {"LoadBalancerAttributes": Match.array_with([{"Key": "access_logs.s3.enabled", "Value": "true"}])},
    )
    # No plain-HTTP listener: port 80 only redirects.
    listeners = resources(raw_templates["prod"], "AWS::ElasticLoadBalancingV2::Listener").values()
    assert sorted(listener["Properties"]["Port"] for listener in listeners) == [80, 443]
    assert _client_rules(raw_templates["prod"]) == [("0.0.0.0/0", 80), ("0.0.0.0/0", 443)]
    assert _base_url(raw_templates["prod"])["Fn::Join"][1][0] == "https://"


def test_a_narrowed_load_balancer_admits_only_allowed_clients_on_its_domain(raw_templates):
    assert _client_rules(raw_templates["prod-narrow"]) == [
        ("198.51.100.7/32", 80),
        ("198.51.100.7/32", 443),
        ("203.0.113.0/24", 80),
        ("203.0.113.0/24", 443),
    ]
    assert _base_url(raw_templates["prod-narrow"]) == "https://airflow.example.com"


def test_plain_http_only_when_opted_out_by_name_and_only_to_allowed_clients(templates, raw_templates):
    template = templates["dev-plain-http"]
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {"Port": 80, "Protocol": "HTTP"})
    template.resource_properties_count_is("AWS::ElasticLoadBalancingV2::Listener", {"Protocol": "HTTPS"}, 0)
    assert _client_rules(raw_templates["dev-plain-http"]) == [("198.51.100.7/32", 80), ("203.0.113.0/24", 80)]
    assert _base_url(raw_templates["dev-plain-http"])["Fn::Join"][1][0] == "http://"
