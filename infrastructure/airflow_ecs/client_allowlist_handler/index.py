"""The HTTP API's Lambda authorizer: admit a request only from ALLOWED_CLIENT_CIDRS.

An HTTP API has no resource policy, so this is how `allowed_client_cidrs` is honoured without a
load balancer. API Gateway caches each answer per source address (the identity source) for five
minutes, so this runs about once per client and five minutes, not once per request. Standard
library only: nothing to package.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def allowed_networks(value: str) -> list[Network]:
    return [ipaddress.ip_network(cidr.strip()) for cidr in value.split(",") if cidr.strip()]


ALLOWED = allowed_networks(os.environ.get("ALLOWED_CLIENT_CIDRS", ""))


def is_allowed(source_ip: str, networks: list[Network]) -> bool:
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


def handler(event: dict[str, Any], context: Any) -> dict[str, bool]:
    """Payload format 2.0 with simple responses: {"isAuthorized": bool}."""
    source_ip = event.get("requestContext", {}).get("http", {}).get("sourceIp", "")
    return {"isAuthorized": is_allowed(source_ip, ALLOWED)}
