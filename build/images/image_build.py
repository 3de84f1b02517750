"""podman build of a Containerfile on the chosen base.

Behind a TLS-intercepting proxy pip needs the host's CA bundle: it is mounted into the build
(`podman build --volume`, which only RUN steps see) and named by the PIP_CERT build argument,
so it is used by the dependency step and never copied into a layer.
"""

from __future__ import annotations

import time
from pathlib import Path

from .commands import log, run
from .paths import ROOT, shown

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA_PATH = "/run/host-ca.crt"
# A build without cache takes about 4 minutes here; an hour means something hangs.
BUILD_TIMEOUT_SECONDS = 3600


def build_command(
    image: str, base: str, containerfile: Path, *, no_cache: bool, platform: str | None, ca_bundle: Path | None
) -> list[str]:
    # docker format: OCI image configs have no HEALTHCHECK field, and the prod image needs one.
    cmd = ["podman", "build", "--format", "docker", "--network", "host", "--pull=never"]
    cmd += ["--build-arg", f"PYTHON_BASE={base}", "--file", str(containerfile), "--tag", image]
    if ca_bundle is not None:
        cmd += ["--volume", f"{ca_bundle}:{BUILD_CA_PATH}:ro", "--build-arg", f"PIP_CERT={BUILD_CA_PATH}"]
    if no_cache:
        cmd.append("--no-cache")
    if platform:
        cmd += ["--platform", platform]
    cmd.append(str(ROOT))
    return cmd


def build(image: str, base: str, containerfile: Path, *, no_cache: bool, platform: str | None) -> float:
    """Build and tag the image; return the seconds it took."""
    ca_bundle = HOST_CA_BUNDLE if HOST_CA_BUNDLE.exists() else None
    started = time.monotonic()
    run(
        build_command(image, base, containerfile, no_cache=no_cache, platform=platform, ca_bundle=ca_bundle),
        timeout=BUILD_TIMEOUT_SECONDS,
    )
    elapsed = time.monotonic() - started
    without_cache = " (no cache)" if no_cache else ""
    log(f"ok   built {image} from {shown(containerfile)} on {base} in {elapsed:.0f} s{without_cache}")
    return elapsed
