"""A supervisor over three stand-in parts, for tests/unit/test_supervisor.py:

- `crasher` exits with code 3 soon after every start (the restart backoff);
- `parent` starts a child in a session of its own, as Airflow runs a task's shell, which writes a
  file after 3 s unless it is killed first (orphans of a killed part);
- `sick` is healthy while the file `healthy` exists in the state folder (replacement after three
  failed health checks).

`python -m tests.unit.apps.fake_stack STATE_FOLDER` runs until SIGTERM. Health checks every 0.2 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

from deploy_airflow_on_ecs_fargate import health
from local_stack import supervisor
from local_stack.paths import StackPaths
from local_stack.settings import LocalSettings

PARENT = (
    "import subprocess, sys, time\n"
    "subprocess.Popen(['sh', '-c', 'sleep 3; echo done >> ' + sys.argv[1]], start_new_session=True)\n"
    "time.sleep(300)\n"
)


def main() -> int:
    home = Path(sys.argv[1])
    paths = StackPaths(home)
    paths.create()
    supervisor.HEALTH_INTERVAL_SECONDS = 0.2
    python = sys.executable

    def sick_check() -> str:
        if (home / "healthy").exists():
            return "healthy"
        raise health.Unhealthy("no file named healthy")

    parts = [
        supervisor.Part("crasher", [python, "-c", "import sys, time; time.sleep(0.2); sys.exit(3)"], 5, lambda: "up"),
        supervisor.Part("parent", [python, "-c", PARENT, str(home / "side-effect")], 5, lambda: "up"),
        supervisor.Part("sick", [python, "-c", "import time; time.sleep(300)"], 5, sick_check),
    ]
    settings = LocalSettings.from_environment({"LOCAL_STACK_HOME": str(home)})
    return supervisor.Supervisor(paths, settings, {"PATH": "/usr/bin:/bin"}, parts).run()


if __name__ == "__main__":
    sys.exit(main())
