"""Scale a component's service now or at a time, and list or cancel scheduled actions.

Services with a scalable target (the night schedule's) are pinned to it (min = max = count): ECS's
desired count alone would be undone by Application Auto Scaling. A scheduled change is an `at()`
action in the user's IANA time zone; a service without a target gets one first, with its current
count, which changes nothing by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_ecs_cli.errors import OperatorError, bad_input
from airflow_ecs_cli.outputs import StackOutputs
from deploy_airflow_on_ecs_fargate import contract

NAMESPACE = "ecs"
DIMENSION = "ecs:service:DesiredCount"
# Actions this command creates; the others come from the stack (its night schedule).
OWN_PREFIX = "airflow-ecs-"
MAX_COUNT = 100
SCALABLE = contract.SERVICE_NAMES


@dataclass(frozen=True)
class Service:
    component: str
    cluster: str
    name: str

    @property
    def resource_id(self) -> str:
        return f"service/{self.cluster}/{self.name}"


@dataclass(frozen=True)
class ScheduledAction:
    component: str
    name: str
    schedule: str
    time_zone: str
    min_capacity: int | None
    max_capacity: int | None
    resource_id: str

    @property
    def label(self) -> str:
        return f"{self.component}/{self.name}"

    @property
    def from_stack(self) -> bool:
        return not self.name.startswith(OWN_PREFIX)


@dataclass(frozen=True)
class ScaledNow:
    component: str
    previous: int
    count: int
    pinned_target: bool
    schedules: tuple[str, ...]


def check_count(count: int) -> int:
    if count < 0:
        raise bad_input(f"count: {count} is negative: give 0 (stop the component) or more")
    if count > MAX_COUNT:
        raise bad_input(f"count: {count} is more than {MAX_COUNT} tasks: a typo? scale in smaller steps")
    return count


def service(outputs: StackOutputs, component: str) -> Service:
    return Service(component=component, cluster=outputs.cluster, name=outputs.service_name(component))


def _desired_count(ecs: Any, svc: Service) -> int:
    found = ecs.describe_services(cluster=svc.cluster, services=[svc.name]).get("services", [])
    if not found or found[0].get("status") == "INACTIVE":
        raise OperatorError(f"service {svc.name} ({svc.component}) is not in cluster {svc.cluster}: redeploy the stack")
    return int(found[0]["desiredCount"])


def _target(aas: Any, svc: Service) -> dict | None:
    targets = aas.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[svc.resource_id], ScalableDimension=DIMENSION
    )["ScalableTargets"]
    return dict(targets[0]) if targets else None


def _refuse_if_scaled_by_policies(aas: Any, svc: Service) -> None:
    """A count pinned by min = max would switch the service's scaling policies off until the next deploy."""
    policies = aas.describe_scaling_policies(
        ServiceNamespace=NAMESPACE, ResourceId=svc.resource_id, ScalableDimension=DIMENSION
    )["ScalingPolicies"]
    if policies:
        names = ", ".join(policy["PolicyName"] for policy in policies)
        raise bad_input(
            f"{svc.component} is scaled by its scaling policies ({names}): a fixed count would switch them off; "
            "let them scale it, or change its range in the settings and deploy"
        )


def _pin(aas: Any, svc: Service, count: int) -> None:
    aas.register_scalable_target(
        ServiceNamespace=NAMESPACE,
        ResourceId=svc.resource_id,
        ScalableDimension=DIMENSION,
        MinCapacity=count,
        MaxCapacity=count,
    )


def scale_now(ecs: Any, aas: Any, svc: Service, count: int) -> ScaledNow:
    check_count(count)
    previous = _desired_count(ecs, svc)
    target = _target(aas, svc)
    if target is not None:
        _refuse_if_scaled_by_policies(aas, svc)
        _pin(aas, svc, count)
    ecs.update_service(cluster=svc.cluster, service=svc.name, desiredCount=count)
    schedules = tuple(action.name for action in _actions(aas, {svc.resource_id: svc.component}))
    return ScaledNow(svc.component, previous, count, target is not None, schedules)


def schedule(ecs: Any, aas: Any, svc: Service, count: int, at: datetime, zone_name: str) -> ScheduledAction:
    """A one-time change at `at` (aware, in `zone_name`), kept by Application Auto Scaling."""
    check_count(count)
    if _target(aas, svc) is None:
        _pin(aas, svc, _desired_count(ecs, svc))
    else:
        _refuse_if_scaled_by_policies(aas, svc)
    name = f"{OWN_PREFIX}{count}-at-{at:%Y%m%dT%H%M}"
    expression = f"at({at:%Y-%m-%dT%H:%M:%S})"
    aas.put_scheduled_action(
        ServiceNamespace=NAMESPACE,
        ResourceId=svc.resource_id,
        ScalableDimension=DIMENSION,
        ScheduledActionName=name,
        Schedule=expression,
        Timezone=zone_name,
        ScalableTargetAction={"MinCapacity": count, "MaxCapacity": count},
    )
    return ScheduledAction(svc.component, name, expression, zone_name, count, count, svc.resource_id)


def _actions(aas: Any, components_by_resource: dict[str, str]) -> list[ScheduledAction]:
    found = []
    for resource_id, component in components_by_resource.items():
        pages = aas.get_paginator("describe_scheduled_actions").paginate(
            ServiceNamespace=NAMESPACE, ResourceId=resource_id, ScalableDimension=DIMENSION
        )
        for action in (action for page in pages for action in page["ScheduledActions"]):
            target = action.get("ScalableTargetAction", {})
            found.append(
                ScheduledAction(
                    component=component,
                    name=action["ScheduledActionName"],
                    schedule=action["Schedule"],
                    time_zone=action.get("Timezone", "UTC"),
                    min_capacity=target.get("MinCapacity"),
                    max_capacity=target.get("MaxCapacity"),
                    resource_id=action["ResourceId"],
                )
            )
    order = {name: index for index, name in enumerate(SCALABLE)}
    return sorted(found, key=lambda action: (order[action.component], action.name))


def list_actions(aas: Any, outputs: StackOutputs) -> list[ScheduledAction]:
    """Every scheduled action on the deployment's services: the stack's night schedule and ours."""
    return _actions(aas, {service(outputs, name).resource_id: name for name in SCALABLE})


def cancel(aas: Any, outputs: StackOutputs, label: str) -> ScheduledAction:
    """Delete one action, named `component/name` as --list shows it (or by its name when unique)."""
    actions = list_actions(aas, outputs)
    matches = [action for action in actions if label in (action.label, action.name)]
    if not matches:
        raise bad_input(f"no scheduled action {label!r}: `airflow-ecs scale --list` shows their names")
    if len(matches) > 1:
        names = ", ".join(action.label for action in matches)
        raise bad_input(f"{label!r} names an action on several components ({names}): give one of those")
    (action,) = matches
    aas.delete_scheduled_action(
        ServiceNamespace=NAMESPACE,
        ResourceId=action.resource_id,
        ScalableDimension=DIMENSION,
        ScheduledActionName=action.name,
    )
    return action
