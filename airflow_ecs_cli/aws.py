"""The AWS session every command uses, and AWS's errors as one line each.

Clients use botocore's standard retry mode: throttling and transient errors are retried with
backoff by botocore itself, never by loops of ours. `AWS_ENDPOINT_URL` (botocore reads it) points
every client at a stand-in such as moto's server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

from airflow_ecs_cli.errors import OperatorError, bad_input

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="airflow-ecs")

NO_CREDENTIALS = (
    "no AWS credentials found: run `aws configure` (or `aws sso login`), set AWS_PROFILE, or pass --aws-profile"
)
EXPIRED_CODES = ("ExpiredToken", "ExpiredTokenException", "RequestExpired")
DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException")
REJECTED_CODES = ("InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidAccessKeyId")
THROTTLED_CODES = ("Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded")


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str
    region: str


class Aws:
    """A boto3 session for one region, with one client per service."""

    def __init__(self, *, region: str | None = None, profile: str | None = None) -> None:
        # botocore reads only AWS_DEFAULT_REGION; the AWS CLI v2, the other SDKs and the CDK CLI
        # read AWS_REGION first. Do as they do, so every tool of a deploy picks the same region.
        region = region or os.environ.get("AWS_REGION") or None
        try:
            self.session = boto3.session.Session(profile_name=profile, region_name=region)
        except ProfileNotFound:
            raise bad_input(
                f"AWS profile {profile!r} is not in your AWS configuration: `aws configure list-profiles` lists them"
            ) from None
        self.profile = profile
        self._clients: dict[str, Any] = {}

    @property
    def region(self) -> str:
        region = self.session.region_name
        if not region:
            raise bad_input(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), give your AWS profile a region, or pass "
                "--region (e.g. --region eu-west-1)"
            )
        if region not in known_regions(self.session):
            raise bad_input(f"unknown AWS region {region!r}: expected one such as us-east-1 or eu-west-1")
        return region

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region, config=CLIENT_CONFIG)
        return self._clients[service]

    def identity(self) -> Identity:
        """Who the credentials are (STS answers even without any permission): fails early and clearly."""
        region = self.region
        with translated():
            answer = self.client("sts").get_caller_identity()
        return Identity(account=answer["Account"], arn=answer["Arn"], region=region)


def known_regions(session: boto3.session.Session) -> set[str]:
    """Regions botocore's endpoint data knows for ECS, in every partition (aws, aws-cn, aws-us-gov, ...)."""
    return {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ecs", partition_name=partition)
    }


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def describe(error: ClientError) -> str:
    """One line for an AWS API error that no command translated more precisely."""
    code = error_code(error)
    message = error.response.get("Error", {}).get("Message", "") or str(error)
    operation = error.operation_name
    if code in EXPIRED_CODES:
        return "your AWS credentials have expired: log in again (`aws sso login`) or refresh them"
    if code in REJECTED_CODES:
        return f"AWS rejected your credentials ({code}): check AWS_PROFILE or your access keys"
    if code in DENIED_CODES:
        return f"access denied to {operation}: your AWS identity needs this permission ({message})"
    if code in THROTTLED_CODES:
        return f"AWS throttled {operation} after retries: try again in a minute"
    return f"AWS {operation} failed: {code}: {message}"


@contextmanager
def translated() -> Iterator[None]:
    """botocore's exceptions as OperatorError (one line each)."""
    # Chained (`from error`): --debug shows botocore's own traceback under the one line.
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError, TokenRetrievalError) as error:
        raise OperatorError(NO_CREDENTIALS) from error
    except NoRegionError as error:
        raise bad_input("no AWS region: set AWS_REGION, give your AWS profile a region, or pass --region") from error
    except EndpointConnectionError as error:
        raise OperatorError(
            f"cannot reach {error.kwargs.get('endpoint_url', 'AWS')}: check the region and your network"
        ) from error
    except ClientError as error:
        raise OperatorError(describe(error)) from error
    except BotoCoreError as error:
        raise OperatorError(f"AWS SDK error: {error}") from error
