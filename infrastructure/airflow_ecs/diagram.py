"""The architecture diagram, drawn from a synthesized Airflow stack template as a Mermaid flowchart
(GitHub renders it): `make docs` writes it into docs/architecture.md and the README, and
tests/infrastructure/test_diagram.py fails when the app no longer synthesizes what they show
(docs/decisions/0074-diagram-from-the-templates.md).

Nothing is drawn by hand: every node is a resource of the template (or a group of alike ones) and
every arrow a relation the template states:

- placement: the subnets each task, the database, the load balancer and the NAT gateways are in;
- network paths: security-group ingress rules between them (the client points at the server);
- permissions: what each task role may do to a queue, a bucket or the task-log group;
- secrets a task definition injects, log groups its containers write to;
- what starts what: the public endpoint -> the api-server, EventBridge Scheduler and the
  deploy-time migration -> the one-off task, alarms -> scaling and notifications.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    shape: str = "box"  # box, database, round

    def render(self) -> str:
        text = self.label.replace('"', "'")
        opening, closing = {"box": ("[", "]"), "database": ("[(", ")]"), "round": ("([", "])")}[self.shape]
        return f'{self.id}{opening}"{text}"{closing}'


@dataclass
class Diagram:
    nodes: dict[str, Node] = field(default_factory=dict)
    # Subgraph id -> (label, node ids), and which subgraph holds a subgraph.
    groups: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    # (source, target) -> labels; an empty label draws a plain arrow.
    edges: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, node: Node, group: str | None = None) -> str:
        self.nodes.setdefault(node.id, node)
        if group is not None and node.id not in self.groups[group][1]:
            self.groups[group][1].append(node.id)
        return node.id

    def link(self, source: str, target: str, label: str = "") -> None:
        if source != target:
            self.edges[(source, target)].update(word for word in label.split(", ") if word)


def _refs(value: Any) -> Iterator[str]:
    """Every logical id a CloudFormation value refers to (Ref, Fn::GetAtt), however nested."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            yield value["Ref"]
        if "Fn::GetAtt" in value:
            yield value["Fn::GetAtt"][0]
        for inner in value.values():
            yield from _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _refs(inner)


def _short(logical_id: str) -> str:
    return HASH_SUFFIX.sub("", logical_id)


def _words(logical_id: str) -> str:
    """`DagBundleBucket4647266B` -> `dag bundle bucket`."""
    return " ".join(re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", _short(logical_id))).lower()


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


class _Template:
    def __init__(self, template: dict, stack_name: str) -> None:
        self.resources: dict[str, dict] = template["Resources"]
        self.stack_name = stack_name

    def of_type(self, *types: str) -> dict[str, dict]:
        return {name: r.get("Properties", {}) for name, r in sorted(self.resources.items()) if r["Type"] in types}

    def type_of(self, logical_id: str) -> str:
        return self.resources.get(logical_id, {}).get("Type", "")


def mermaid(template: dict, stack_name: str) -> str:
    """The stack as a Mermaid flowchart (the text between ```mermaid fences)."""
    t = _Template(template, stack_name)
    d = Diagram()
    subnet_group = _subnets(t, d)
    security_groups: dict[str, str] = {}  # security group logical id -> node
    tasks = _tasks(t, d, subnet_group, security_groups)
    _database(t, d, subnet_group, security_groups)
    _endpoint(t, d, subnet_group, security_groups)
    for nat in t.of_type("AWS::EC2::NatGateway").values():
        d.add(Node("nat", f"NAT gateways x{len(t.of_type('AWS::EC2::NatGateway'))}"), _group_of(nat, subnet_group))
    _routes(t, d, subnet_group)
    for source, target, label in _network_paths(t, security_groups):
        d.link(source, target, label)
    _permissions(t, d, tasks)
    _starters(t, d, tasks)
    _alarms(t, d)
    return _render(d, tasks)


def _subnets(t: _Template, d: Diagram) -> dict[str, str]:
    """Subnet logical id -> subgraph id, one subgraph per subnet group (public, tasks, database)."""
    (vpc,) = t.of_type("AWS::EC2::VPC").values()
    d.groups["vpc"] = (f"VPC {vpc.get('CidrBlock', '')}", [])
    by_name: dict[str, list[str]] = defaultdict(list)
    kinds = {}
    for subnet_id, subnet in t.of_type("AWS::EC2::Subnet").items():
        tags = {tag["Key"]: tag["Value"] for tag in subnet.get("Tags", [])}
        name = tags.get("aws-cdk:subnet-name", "subnets")
        by_name[name].append(subnet_id)
        kinds[name] = tags.get("aws-cdk:subnet-type", "").lower()
    found = {}
    for name, subnet_ids in sorted(by_name.items()):
        group = f"subnets_{re.sub(r'[^a-z0-9]', '_', name.lower())}"
        d.groups[group] = (f"{name} subnets: {kinds[name]}, {len(subnet_ids)} zones", [])
        d.parents[group] = "vpc"
        found.update({subnet_id: group for subnet_id in subnet_ids})
    for endpoint in t.of_type("AWS::EC2::VPCEndpoint").values():
        service = json.dumps(endpoint.get("ServiceName", ""))
        if endpoint.get("VpcEndpointType", "Gateway") == "Gateway" and ".s3" in service:
            d.add(Node("s3_endpoint", "S3 gateway endpoint"), "vpc")
    return found


def _routes(t: _Template, d: Diagram, subnet_group: dict[str, str]) -> None:
    """Each subnet group's way out: the internet gateway (public IPs) or a NAT gateway."""
    tables: dict[str, set[str]] = defaultdict(set)  # route table -> subnet groups
    for association in t.of_type("AWS::EC2::SubnetRouteTableAssociation").values():
        for table in _refs(association["RouteTableId"]):
            tables[table].update(subnet_group[ref] for ref in _refs(association["SubnetId"]) if ref in subnet_group)
    for route in t.of_type("AWS::EC2::Route").values():
        if route.get("DestinationCidrBlock") != "0.0.0.0/0":
            continue
        gateways = [
            ref for ref in _refs(route) if t.type_of(ref) in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway")
        ]
        for gateway in gateways:
            if t.type_of(gateway) == "AWS::EC2::InternetGateway":
                target = d.add(Node("internet_gateway", "internet gateway"), "vpc")
            else:
                target = "nat"
            for table in _refs(route["RouteTableId"]):
                for group in tables[table]:
                    d.link(group, target, "outbound")


def _group_of(properties: Any, subnet_group: dict[str, str]) -> str:
    """The subgraph of the first subnet a resource's properties name (every resource here spans
    the subnets of one group)."""
    groups = sorted({subnet_group[ref] for ref in _refs(properties) if ref in subnet_group})
    return groups[0] if groups else "vpc"


def _tasks(t: _Template, d: Diagram, subnet_group: dict[str, str], security_groups: dict[str, str]) -> dict[str, str]:
    """Task definition logical id -> node: each ECS service, and each task definition no service
    runs (one-off tasks), placed in its subnets."""
    definitions = t.of_type("AWS::ECS::TaskDefinition")
    prefix = f"{t.stack_name}-"
    tasks: dict[str, str] = {}
    scaling = _scaling_ranges(t)
    for service_id, service in t.of_type("AWS::ECS::Service").items():
        (definition_id,) = [ref for ref in _refs(service["TaskDefinition"]) if ref in definitions]
        definition = definitions[definition_id]
        family = str(definition.get("Family", _words(definition_id))).removeprefix(prefix)
        count = scaling.get(service_id, str(service.get("DesiredCount", 1)))
        providers = {s["CapacityProvider"] for s in service.get("CapacityProviderStrategy", [])}
        capacity = "Fargate Spot" if providers == {"FARGATE_SPOT"} else "Fargate"
        if providers == {"FARGATE", "FARGATE_SPOT"}:
            capacity = "Fargate and Spot"
        containers = ", ".join(c["Name"] for c in definition["ContainerDefinitions"])
        label = f"ECS service {family}: {count} x {capacity}<br/>{containers}"
        network = service.get("NetworkConfiguration", {})
        tasks[definition_id] = d.add(Node(_short(service_id), label), _group_of(network, subnet_group))
        for ref in _refs(network.get("AwsvpcConfiguration", {}).get("SecurityGroups", [])):
            security_groups[ref] = tasks[definition_id]
    for definition_id, definition in definitions.items():
        if definition_id in tasks:
            continue
        family = str(definition.get("Family", _words(definition_id))).removeprefix(prefix)
        # Where it runs: the deploy-time migration and the schedules say (same subnets, same group).
        runners = [
            properties
            for properties in [*t.of_type("Custom::AirflowMigrations").values(), *_ecs_schedules(t).values()]
            if definition_id in _refs(properties)
        ]
        label = f"one-off ECS task {family}<br/>" + ", ".join(c["Name"] for c in definition["ContainerDefinitions"])
        tasks[definition_id] = d.add(Node(_short(definition_id), label), _group_of(runners, subnet_group))
        for runner in runners:
            for ref in _refs(runner.get("SecurityGroups", runner.get("Target", {}).get("EcsParameters", {}))):
                if t.type_of(ref) == "AWS::EC2::SecurityGroup":
                    security_groups[ref] = tasks[definition_id]
    return tasks


def _scaling_ranges(t: _Template) -> dict[str, str]:
    """Service logical id -> `min-max` for the services a scaling policy drives."""
    driven = {
        ref for policy in t.of_type("AWS::ApplicationAutoScaling::ScalingPolicy").values() for ref in _refs(policy)
    }
    ranges = {}
    for target_id, target in t.of_type("AWS::ApplicationAutoScaling::ScalableTarget").items():
        if target_id in driven:
            for ref in _refs(target["ResourceId"]):
                if t.type_of(ref) == "AWS::ECS::Service":
                    ranges[ref] = f"{target['MinCapacity']}-{target['MaxCapacity']}"
    return ranges


def _ecs_schedules(t: _Template) -> dict[str, dict]:
    return {
        name: schedule
        for name, schedule in t.of_type("AWS::Scheduler::Schedule").items()
        if "EcsParameters" in schedule.get("Target", {})
    }


def _database(t: _Template, d: Diagram, subnet_group: dict[str, str], security_groups: dict[str, str]) -> None:
    groups = t.of_type("AWS::RDS::DBSubnetGroup")
    for db_id, db in t.of_type("AWS::RDS::DBInstance").items():
        zones = "Multi-AZ" if db.get("MultiAZ") else "single-AZ"
        engine = {"postgres": "PostgreSQL"}.get(str(db.get("Engine")), str(db.get("Engine")))
        label = f"RDS {engine} {db.get('EngineVersion', '')}<br/>{db.get('DBInstanceClass', '')}, {zones}"
        subnets = [groups[ref] for ref in _refs(db.get("DBSubnetGroupName")) if ref in groups]
        node = d.add(Node(_short(db_id), label, "database"), _group_of(subnets, subnet_group))
        for ref in _refs(db.get("VPCSecurityGroups", [])):
            security_groups[ref] = node


def _endpoint(t: _Template, d: Diagram, subnet_group: dict[str, str], security_groups: dict[str, str]) -> None:
    """Users -> the load balancer (in its subnets) or the HTTP API (through its VPC link)."""
    users = d.add(Node("users", "users: UI and REST API", "round"))
    for balancer_id, balancer in t.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer").items():
        listeners = [
            listener
            for listener in t.of_type("AWS::ElasticLoadBalancingV2::Listener").values()
            if balancer_id in _refs(listener["LoadBalancerArn"])
        ]
        protocols = sorted({str(listener.get("Protocol", "HTTP")) for listener in listeners})
        node = d.add(
            Node(_short(balancer_id), "Application Load Balancer"), _group_of(balancer.get("Subnets"), subnet_group)
        )
        d.link(users, node, "HTTPS" if "HTTPS" in protocols else "HTTP")
        for ref in _refs(balancer.get("SecurityGroups", [])):
            security_groups[ref] = node
    for api_id in t.of_type("AWS::ApiGatewayV2::Api"):
        node = d.add(Node(_short(api_id), "API Gateway HTTP API"))
        d.link(users, node, "HTTPS")
        for link in t.of_type("AWS::ApiGatewayV2::VpcLink").values():
            for ref in _refs(link.get("SecurityGroupIds", [])):
                security_groups[ref] = node


def _network_paths(t: _Template, security_groups: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """Ingress rules between the drawn resources' security groups: client -> server."""
    databases = {_short(db_id) for db_id in t.of_type("AWS::RDS::DBInstance")}
    for rule in t.of_type("AWS::EC2::SecurityGroupIngress").values():
        servers = [security_groups[ref] for ref in _refs(rule.get("GroupId")) if ref in security_groups]
        clients = [security_groups[ref] for ref in _refs(rule.get("SourceSecurityGroupId")) if ref in security_groups]
        for server in servers:
            for client in clients:
                label = "PostgreSQL" if server in databases else str(rule.get("Description", "")).split(",")[0]
                yield client, server, label


def _task_roles(t: _Template) -> dict[str, list[str]]:
    """Task role logical id -> the task definitions that use it."""
    roles: dict[str, list[str]] = defaultdict(list)
    for definition_id, definition in t.of_type("AWS::ECS::TaskDefinition").items():
        for ref in _refs(definition.get("TaskRoleArn")):
            roles[ref].append(definition_id)
    return roles


def _permissions(t: _Template, d: Diagram, tasks: dict[str, str]) -> None:
    """Task roles on queues, buckets and the task-log group; secrets and log groups of the containers."""
    roles = _task_roles(t)
    for policy in t.of_type("AWS::IAM::Policy").values():
        users = [tasks[task] for role in _refs(policy.get("Roles", [])) for task in roles.get(role, [])]
        if not users:
            continue  # execution roles, the Lambda functions' and the schedules' roles
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = _as_list(statement["Action"])
            if "cloudwatch:PutMetricData" in actions:
                for user in users:
                    d.link(user, "cloudwatch", "metrics")
            for ref in sorted(set(_refs(statement.get("Resource")))):
                kind = t.type_of(ref)
                if kind == "AWS::Logs::LogGroup":
                    # Written through the task role: remote task logs, ECS Exec session logs.
                    target, label = "cloudwatch", _words(ref).removesuffix(" log group")
                elif kind == "AWS::SQS::Queue":
                    target, label = d.add(Node(_short(ref), f"SQS: {_words(ref)}")), _verb(actions)
                elif kind == "AWS::S3::Bucket":
                    name = _words(ref).removesuffix(" bucket")
                    target, label = d.add(Node(_short(ref), f"S3: {name}", "database")), _verb(actions)
                else:
                    continue
                for user in users:
                    d.link(user, target, label)
    secrets = t.of_type("AWS::SecretsManager::Secret")
    attachments = t.of_type("AWS::SecretsManager::SecretTargetAttachment")
    for definition_id, definition in t.of_type("AWS::ECS::TaskDefinition").items():
        for container in definition["ContainerDefinitions"]:
            if set(_refs(container.get("Secrets", []))) & (set(secrets) | set(attachments)):
                node = d.add(Node("secrets", f"Secrets Manager: {len(secrets)} secrets"))
                d.link(tasks[definition_id], node, "secrets at start")
            if container.get("LogConfiguration", {}).get("LogDriver") == "awslogs":
                d.link(tasks[definition_id], "cloudwatch", "logs")


def _verb(actions: list[str]) -> str:
    verbs = set()
    for action in actions:
        operation = action.split(":", 1)[1]
        if operation.startswith(("Send",)):
            verbs.add("sends")
        elif operation.startswith(("Receive", "DeleteMessage", "ChangeMessage")):
            verbs.add("receives")
        elif operation.startswith(("Put", "Create", "Delete")):
            verbs.add("writes")
        elif operation.startswith(("Get", "List", "Describe", "Filter", "StartQuery")):
            verbs.add("reads")
    return ", ".join(sorted(verbs))


def _starters(t: _Template, d: Diagram, tasks: dict[str, str]) -> None:
    """What starts a one-off task: the deploy-time migration and the ECS schedules."""
    for migration in t.of_type("Custom::AirflowMigrations").values():
        for ref in _refs(migration["TaskDefinition"]):
            node = d.add(Node("migrations", "migrations on every deploy: CloudFormation custom resource"))
            d.link(node, tasks[ref], " ".join(migration.get("Command", [])))
    for schedule in t.of_type("AWS::Scheduler::Schedule").values():
        node = d.add(Node("scheduler", "EventBridge Scheduler"))
        target = schedule["Target"]
        when = f"{schedule['ScheduleExpression']} {schedule.get('ScheduleExpressionTimezone', 'UTC')}"
        if "EcsParameters" in target:
            (definition_id,) = [ref for ref in _refs(target["EcsParameters"]) if ref in tasks]
            overrides = json.loads(target["Input"]).get("containerOverrides", [])
            command = " ".join(word for override in overrides for word in override.get("command", []))
            d.link(node, tasks[definition_id], f"{command} {when}")
        elif isinstance(target.get("Arn"), str) and ":aws-sdk:" in target["Arn"]:
            service, action = target["Arn"].rsplit(":", 2)[-2:]
            d.link(node, "cloudwatch" if service == "cloudwatch" else service, action)


def _alarms(t: _Template, d: Diagram) -> None:
    """Alarms drive scaling policies and notify topics; scheduled actions stop and start services."""
    alarms = t.of_type("AWS::CloudWatch::Alarm")
    policies = t.of_type("AWS::ApplicationAutoScaling::ScalingPolicy")
    targets = t.of_type("AWS::ApplicationAutoScaling::ScalableTarget")
    scaling = "application_auto_scaling"
    for alarm in alarms.values():
        for ref in _refs(alarm.get("AlarmActions", [])):
            if ref in policies:
                d.add(Node(scaling, "Application Auto Scaling"))
                d.link("cloudwatch", scaling, "scaling alarms")
            elif t.type_of(ref) == "AWS::SNS::Topic":
                topic = t.of_type("AWS::SNS::Topic")[ref]
                node = d.add(Node(_short(ref), f"SNS topic {topic.get('TopicName', _words(ref))}"))
                d.link("cloudwatch", node, "alarms")
    driven = {ref for policy in policies.values() for ref in _refs(policy)}
    for target_id, target in targets.items():
        services = [_short(ref) for ref in _refs(target["ResourceId"]) if t.type_of(ref) == "AWS::ECS::Service"]
        for service in services:
            if target_id in driven:
                d.add(Node(scaling, "Application Auto Scaling"))
                d.link(scaling, service, "task count")
            if target.get("ScheduledActions"):
                d.add(Node(scaling, "Application Auto Scaling"))
                d.link(scaling, service, "scheduled stop and start")
    parts = ["logs", "metrics"]
    if alarms:
        parts.append("alarms")
    if t.of_type("AWS::CloudWatch::Dashboard"):
        parts.append("dashboard")
    d.add(Node("cloudwatch", "CloudWatch: " + ", ".join(parts)))


def _render(d: Diagram, tasks: dict[str, str]) -> str:
    # An arrow every task of a subgraph draws to the same place with the same words is drawn once,
    # from the subgraph.
    task_nodes = set(tasks.values())
    edges = {key: ", ".join(sorted(labels)) for key, labels in d.edges.items()}
    for group, (_, members) in d.groups.items():
        grouped = [member for member in members if member in task_nodes]
        if len(grouped) < 2 or len(grouped) != len(members):
            continue
        targets = {(target, label) for (source, target), label in edges.items() if source == grouped[0]}
        for target, label in sorted(targets):
            if all(edges.get((member, target)) == label for member in grouped):
                for member in grouped:
                    del edges[(member, target)]
                edges[(group, target)] = label
    lines = ["flowchart TB"]
    placed = {member for _, members in d.groups.values() for member in members}
    for node_id in sorted(set(d.nodes) - placed):
        lines.append(f"    {d.nodes[node_id].render()}")
    lines += _render_group("vpc", d, 1)
    for (source, target), label in sorted(edges.items()):
        arrow = f' -->|"{label}"| ' if label else " --> "
        lines.append(f"    {source}{arrow}{target}")
    return "\n".join(lines) + "\n"


def _render_group(group: str, d: Diagram, depth: int) -> list[str]:
    label, members = d.groups[group]
    if not members and not any(parent == group for parent in d.parents.values()):
        return []
    indent = "    " * depth
    lines = [f'{indent}subgraph {group}["{label}"]']
    for member in sorted(members):
        lines.append(f"{indent}    {d.nodes[member].render()}")
    for child in sorted(child for child, parent in d.parents.items() if parent == group):
        lines += _render_group(child, d, depth + 1)
    lines.append(f"{indent}end")
    return lines
