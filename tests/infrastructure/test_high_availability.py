"""prod has no single point of failure in its control plane: two api-servers, two schedulers and two
triggerers, their tasks spread over two availability zones and kept there, behind a load balancer
in both zones, on a Multi-AZ database, with a NAT gateway per zone. The one dag-processor is the
reasoned exception (docs/decisions/0062-prod-high-availability.md): ECS replaces it within
minutes, and scheduling goes on meanwhile from the DAGs already parsed."""

from __future__ import annotations

import pytest

from tests.infrastructure.templates import resources

EXPECTED_COUNTS = {"api-server": 2, "scheduler": 2, "triggerer": 2, "dag-processor": 1, "worker": 0}


def _ref(value) -> str:
    return value["Ref"] if isinstance(value, dict) and "Ref" in value else value


def _zone_of(template: dict, subnet: str):
    return template["Resources"][subnet]["Properties"]["AvailabilityZone"]


def _services(template: dict, deployment_name: str) -> dict[str, dict]:
    return {
        s["Properties"]["ServiceName"].removeprefix(f"{deployment_name}-"): s["Properties"]
        for s in resources(template, "AWS::ECS::Service").values()
    }


@pytest.mark.parametrize("deployment", ["prod", "prod-public"])
def test_two_of_each_control_plane_component_spread_over_two_zones(raw_templates, deployment):
    template = raw_templates[deployment]
    services = _services(template, f"airflow-{deployment}")
    assert {name: service["DesiredCount"] for name, service in services.items()} == EXPECTED_COUNTS
    for name, service in services.items():
        subnets = [_ref(s) for s in service["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]]
        # ECS spreads a service's tasks over its subnets' zones: two subnets, two zones.
        assert len({str(_zone_of(template, subnet)) for subnet in subnets}) == 2, name
        assert service["AvailabilityZoneRebalancing"] == "ENABLED", name
        # A deploy starts the new task before stopping the old one: never fewer than the count.
        assert service["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100, name


def test_the_load_balancer_spans_both_zones_and_checks_each_api_server(raw_templates):
    template = raw_templates["prod"]
    (balancer,) = resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    zones = {str(_zone_of(template, _ref(subnet))) for subnet in balancer["Properties"]["Subnets"]}
    assert len(zones) == 2
    (group,) = resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert group["Properties"]["HealthCheckPath"] == "/api/v2/monitor/health"


def test_multi_az_database_and_a_nat_gateway_in_each_zone(raw_templates):
    template = raw_templates["prod"]
    (db,) = resources(template, "AWS::RDS::DBInstance").values()
    assert db["Properties"]["MultiAZ"] is True
    gateways = resources(template, "AWS::EC2::NatGateway")
    assert len({str(_zone_of(template, _ref(g["Properties"]["SubnetId"]))) for g in gateways.values()}) == 2
    # Each private task subnet leaves through the NAT gateway of its own zone: losing one zone
    # does not cut the other zone's tasks off from SQS, ECR, Secrets Manager and CloudWatch.
    tables = {
        _ref(a["Properties"]["SubnetId"]): _ref(a["Properties"]["RouteTableId"])
        for a in resources(template, "AWS::EC2::SubnetRouteTableAssociation").values()
    }
    services = _services(template, "airflow-prod")
    for subnet in services["scheduler"]["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]:
        (route,) = [
            r["Properties"]
            for r in resources(template, "AWS::EC2::Route").values()
            if _ref(r["Properties"]["RouteTableId"]) == tables[_ref(subnet)]
        ]
        gateway = gateways[_ref(route["NatGatewayId"])]
        assert _zone_of(template, _ref(gateway["Properties"]["SubnetId"])) == _zone_of(template, _ref(subnet))


def test_dev_is_the_cheap_shape_on_purpose(raw_templates):
    # One control-plane task, a single-AZ database: the profile trades redundancy for cost.
    services = _services(raw_templates["dev"], "airflow-dev")
    assert {name: service["DesiredCount"] for name, service in services.items()} == {"control-plane": 1, "worker": 0}
    (db,) = resources(raw_templates["dev"], "AWS::RDS::DBInstance").values()
    assert db["Properties"]["MultiAZ"] is False
