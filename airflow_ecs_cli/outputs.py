"""A deployed stack's outputs: what every command needs to find the cluster, services, one-off task
definition, subnets, queue, log groups and the UI (infrastructure/airflow_ecs/stack.py, `_outputs`).

Output keys are derived from the runtime contract's component names, as the stack derives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from botocore.exceptions import ClientError

from airflow_ecs_cli.aws import Aws, error_code
from airflow_ecs_cli.errors import OperatorError
from deploy_airflow_on_ecs_fargate import contract

# Stacks CloudFormation reports but that hold nothing usable.
GONE_STATUSES = ("DELETE_COMPLETE", "REVIEW_IN_PROGRESS")
# The one-off task definition's logs; not a component of the contract but a log group of the stack.
STANDALONE = "standalone"


def output_key(component: str) -> str:
    """`dag-processor` -> `DagProcessor`, the prefix of its `...ServiceName` and `...LogGroup` outputs."""
    return "".join(part.title() for part in component.split("-"))


def missing_stack(stack_name: str, region: str) -> OperatorError:
    return OperatorError(
        f"stack {stack_name} not found in {region}: deploy it with `airflow-ecs deploy`, or name another with "
        "--profile, --settings name=... or --stack (and --region)"
    )


def describe_stack(aws: Aws, stack_name: str) -> dict | None:
    """The stack's description, or None when it does not exist."""
    try:
        answer = aws.client("cloudformation").describe_stacks(StackName=stack_name)
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in str(error):
            return None
        raise
    stack = answer["Stacks"][0]
    return None if stack["StackStatus"] in GONE_STATUSES else stack


@dataclass(frozen=True)
class StackOutputs:
    stack_name: str
    region: str
    status: str
    values: Mapping[str, str]
    parameters: Mapping[str, str]

    def get(self, key: str) -> str:
        if key not in self.values:
            raise OperatorError(
                f"stack {self.stack_name} has no output {key}: it was deployed by an older version of this "
                "project; run `airflow-ecs deploy`"
            )
        return self.values[key]

    @property
    def cluster(self) -> str:
        return self.get("ClusterName")

    @property
    def ui_url(self) -> str:
        return self.get("LoadBalancerUrl")

    @property
    def queue_url(self) -> str:
        return self.get("QueueUrl")

    @property
    def image_tag(self) -> str:
        return self.parameters.get("ImageTag", "")

    @property
    def task_subnets(self) -> tuple[str, ...]:
        return tuple(subnet for subnet in self.get("TaskSubnets").split(",") if subnet)

    @property
    def assign_public_ip(self) -> bool:
        return self.get("AssignPublicIp") == "ENABLED"

    @property
    def standalone_family(self) -> str:
        return self.get("StandaloneTaskFamily")

    @property
    def standalone_container(self) -> str:
        return self.get("StandaloneContainerName")

    @property
    def standalone_security_group(self) -> str:
        return self.get("StandaloneSecurityGroup")

    def service_name(self, component: str) -> str:
        return self.get(f"{output_key(component)}ServiceName")

    def log_group(self, component: str) -> str:
        return self.get(f"{output_key(component)}LogGroup")

    def services(self) -> dict[str, str]:
        """Each component of the contract with a service of its own, and the service's name."""
        return {name: self.service_name(name) for name in contract.SERVICE_NAMES}


def load(aws: Aws, stack_name: str) -> StackOutputs:
    stack = describe_stack(aws, stack_name)
    if stack is None:
        raise missing_stack(stack_name, aws.region)
    return StackOutputs(
        stack_name=stack_name,
        region=aws.region,
        status=stack["StackStatus"],
        values={item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])},
        parameters={item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])},
    )
