"""Whether a CA the build host added locally (e.g. a TLS-intercepting proxy's) reached a layer.

The build mounts the host's CA bundle for the dependency step only; this reads every file of
every layer of the saved image and looks for a distinctive slice of each locally added CA.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

from .commands import run
from .paths import STATE

LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")  # where Debian keeps locally added CAs
# Seconds to write the image (about 600 MB) to a tar file.
SAVE_TIMEOUT_SECONDS = 600


def local_ca_markers(ca_dir: Path = LOCAL_CA_DIR) -> list[bytes]:
    """Two base64 lines from the middle of each locally added certificate (past the header bytes
    every certificate shares), without line breaks, as they appear in any PEM bundle."""
    markers = []
    for path in sorted(ca_dir.rglob("*.crt")) if ca_dir.is_dir() else []:
        for body in re.findall(r"-----BEGIN CERTIFICATE-----\s*(.*?)-----END", path.read_text(), re.DOTALL):
            lines = body.split()
            if len(lines) > 4:
                markers.append("".join(lines[2:4]).encode())
    return markers


def files_with_markers(archive: Path, markers: list[bytes]) -> list[str]:
    """Every file, in any layer of a docker-archive, whose content holds one of the markers."""
    hits = []
    with tarfile.open(archive) as outer:
        for layer in outer:
            stream = outer.extractfile(layer) if layer.isfile() and layer.name.endswith(".tar") else None
            if stream is None:
                continue
            with tarfile.open(fileobj=stream) as inner:
                for member in inner:
                    content = inner.extractfile(member) if member.isfile() else None
                    if content is not None:
                        flat = content.read().replace(b"\n", b"")
                        if any(marker in flat for marker in markers):
                            hits.append(member.name)
    return hits


def scan_image(image: str, markers: list[bytes]) -> list[str]:
    """files_with_markers over the image as podman saves it; nothing to do without markers."""
    if not markers:
        return []
    archive = STATE / "image-scan.tar"
    save = ["podman", "image", "save", "--format", "docker-archive", "--output", str(archive), image]
    run(save, timeout=SAVE_TIMEOUT_SECONDS)
    try:
        return files_with_markers(archive, markers)
    finally:
        archive.unlink(missing_ok=True)
