"""Every task subnet reaches ECR, CloudWatch Logs, Secrets Manager and SQS in both egress modes,
and the database subnets reach nothing outside the VPC. No linter checks routes: we do."""

from __future__ import annotations

import copy

import pytest

from tests.infrastructure.templates import resources

AWS_APIS = {"ecr.api", "ecr.dkr", "logs", "secretsmanager", "sqs", "s3"}


def _ref(value) -> str:
    return value["Ref"] if isinstance(value, dict) and "Ref" in value else value


def route_table_of(template: dict, subnet: str) -> str:
    for association in resources(template, "AWS::EC2::SubnetRouteTableAssociation").values():
        if _ref(association["Properties"]["SubnetId"]) == subnet:
            return _ref(association["Properties"]["RouteTableId"])
    raise AssertionError(f"subnet {subnet} has no route table")


def default_route_target(template: dict, route_table: str) -> tuple[str, str] | None:
    """('igw'|'nat', resource) of the 0.0.0.0/0 route, if any."""
    for route in resources(template, "AWS::EC2::Route").values():
        props = route["Properties"]
        if _ref(props["RouteTableId"]) == route_table and props.get("DestinationCidrBlock") == "0.0.0.0/0":
            if "GatewayId" in props:
                gateway = _ref(props["GatewayId"])
                assert template["Resources"][gateway]["Type"] == "AWS::EC2::InternetGateway"
                return "igw", gateway
            if "NatGatewayId" in props:
                return "nat", _ref(props["NatGatewayId"])
    return None


def reachable_apis(template: dict, subnet: str, public_ip: bool) -> set[str]:
    """AWS APIs a task in `subnet` can reach: through the internet or through VPC endpoints."""
    route_table = route_table_of(template, subnet)
    reachable: set[str] = set()
    target = default_route_target(template, route_table)
    if target and target[0] == "igw" and public_ip:
        reachable |= AWS_APIS
    if target and target[0] == "nat":
        nat = template["Resources"][target[1]]["Properties"]
        # The NAT gateway itself must sit in a subnet routed to the internet gateway, with an address.
        nat_route = default_route_target(template, route_table_of(template, _ref(nat["SubnetId"])))
        if nat_route and nat_route[0] == "igw" and "AllocationId" in nat:
            reachable |= AWS_APIS
    for endpoint in resources(template, "AWS::EC2::VPCEndpoint").values():
        props = endpoint["Properties"]
        service = (
            str(props["ServiceName"]).rsplit(".", 1)[-1]
            if isinstance(props["ServiceName"], str)
            else _endpoint_service(props)
        )
        if props.get("VpcEndpointType") == "Interface" and subnet in [_ref(s) for s in props.get("SubnetIds", [])]:
            reachable.add(service)
        if props.get("VpcEndpointType", "Gateway") == "Gateway" and route_table in [
            _ref(t) for t in props.get("RouteTableIds", [])
        ]:
            reachable.add(service)
    return reachable


def _endpoint_service(props: dict) -> str:
    # CDK writes e.g. {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]}.
    return props["ServiceName"]["Fn::Join"][1][-1].lstrip(".")


def task_placements(template: dict) -> list[tuple[str, list[str], bool]]:
    """(what, subnets, public ip) for every ECS service and for the migration task."""
    placements = []
    for name, service in resources(template, "AWS::ECS::Service").items():
        vpc = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        placements.append((name, [_ref(s) for s in vpc["Subnets"]], vpc["AssignPublicIp"] == "ENABLED"))
    for name, run in resources(template, "Custom::AirflowMigrations").items():
        props = run["Properties"]
        placements.append((name, [_ref(s) for s in props["Subnets"]], props["AssignPublicIp"] == "ENABLED"))
    return placements


@pytest.mark.parametrize(
    ("deployment", "mode", "services"), [("dev", "igw", 2), ("prod", "nat", 5), ("dev-private", "nat", 2)]
)
def test_every_task_subnet_reaches_the_aws_apis(raw_templates, deployment, mode, services):
    template = raw_templates[deployment]
    placements = task_placements(template)
    # dev: the control-plane task's service and the workers'; prod: one per component. And the migration.
    assert len(placements) == services + 1
    for what, subnets, public_ip in placements:
        assert len(subnets) == 2, what
        for subnet in subnets:
            assert reachable_apis(template, subnet, public_ip) >= AWS_APIS, (what, subnet)
            assert default_route_target(template, route_table_of(template, subnet))[0] == mode


def test_the_route_check_fails_without_a_route_or_a_public_ip(raw_templates):
    template = copy.deepcopy(raw_templates["dev"])
    _, subnets, _ = task_placements(template)[0]
    assert reachable_apis(template, subnets[0], public_ip=False) == {"s3"}
    for name in list(resources(template, "AWS::EC2::Route")):
        del template["Resources"][name]
    assert reachable_apis(template, subnets[0], public_ip=True) == {"s3"}


@pytest.mark.parametrize("deployment", ["dev", "prod"])
def test_database_subnets_have_no_route_out_of_the_vpc(raw_templates, deployment):
    template = raw_templates[deployment]
    (group,) = resources(template, "AWS::RDS::DBSubnetGroup").values()
    subnets = [_ref(s) for s in group["Properties"]["SubnetIds"]]
    assert len(subnets) == 2
    for subnet in subnets:
        table = route_table_of(template, subnet)
        routes = [
            r for r in resources(template, "AWS::EC2::Route").values() if _ref(r["Properties"]["RouteTableId"]) == table
        ]
        assert routes == []
    (db,) = resources(template, "AWS::RDS::DBInstance").values()
    assert db["Properties"]["PubliclyAccessible"] is False


@pytest.mark.parametrize(("deployment", "nat_gateways"), [("dev", 0), ("prod", 2)])
def test_two_availability_zones_and_nat_only_in_private_mode(templates, deployment, nat_gateways):
    template = templates[deployment]
    template.resource_count_is("AWS::EC2::NatGateway", nat_gateways)
    subnets = template.find_resources("AWS::EC2::Subnet")
    assert len({s["Properties"]["AvailabilityZone"] for s in subnets.values()}) == 2
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "REJECT"})


@pytest.mark.parametrize("deployment", ["dev", "prod"])
def test_no_task_security_group_admits_the_internet(raw_templates, deployment):
    template = raw_templates[deployment]
    for name, group in resources(template, "AWS::EC2::SecurityGroup").items():
        if name.startswith(("PublicEndpoint", "HttpApi")):
            continue
        for rule in group["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") not in ("0.0.0.0/0",) and rule.get("CidrIpv6") != "::/0", name
    for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
        assert "CidrIp" not in rule["Properties"] and "CidrIpv6" not in rule["Properties"]
