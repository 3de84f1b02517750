"""Running the tools (podman, debootstrap, apt-get) and reporting a failed step in one line."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

# Enough of a failed tool's output to see why, short enough to read in a CI log.
ERROR_TAIL_LINES = 15


class SmokeFailure(Exception):
    """A step or a check failed; the message is what to print after FAIL."""


def log(message: str) -> None:
    print(message, flush=True)


def run(
    cmd: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output; with check, a non-zero exit raises SmokeFailure
    carrying the last lines of its stderr (or stdout when stderr is empty)."""
    result = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=env)
    if check and result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-ERROR_TAIL_LINES:])
        raise SmokeFailure(f"{' '.join(cmd[:4])} ... exited {result.returncode}:\n{tail}")
    return result
