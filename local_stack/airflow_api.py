"""A small client for Airflow's REST API (v2), used by the integration test and the benchmark."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

FINISHED = ("success", "failed")


class ApiError(Exception):
    pass


@dataclass
class AirflowApi:
    base_url: str
    token: str

    @classmethod
    def login(cls, base_url: str, username: str, password: str) -> AirflowApi:
        api = cls(base_url.rstrip("/"), "")
        api.token = api.call("POST", "/auth/token", {"username": username, "password": password})["access_token"]
        return api

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 30):
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {self.token}"} if self.token else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise ApiError(f"{method} {path}: HTTP {error.code} {error.read()[:300]!r}") from None
        return json.loads(raw) if raw else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """Until the dag-processor has parsed it; then unpause it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
                return
            except ApiError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300, poll: float = 0.05) -> str:
        deadline = time.monotonic() + timeout
        state = "unknown"
        while True:
            # One slow, reset or refused poll (an api-server starting, restarted or on a loaded
            # machine) is not the run's answer: the deadline is.
            with contextlib.suppress(TimeoutError, ConnectionError, urllib.error.URLError):
                state = self.run_state(dag_id, run_id)
            if state in FINISHED:
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} run {run_id} still {state} after {timeout:.0f} s")
            time.sleep(poll)

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]

    def unfinished_task_count(self) -> int:
        """Task instances of every DAG that are queued or running."""
        found = self.call("GET", "/api/v2/dags/~/dagRuns/~/taskInstances?state=queued&state=running&limit=1")
        return found["total_entries"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The task's log as text, as the UI shows it."""
        body = self.call(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}?full_content=true"
        )
        content = body["content"]
        if isinstance(content, str):
            return content
        return "\n".join(entry.get("event", "") if isinstance(entry, dict) else str(entry) for entry in content)
