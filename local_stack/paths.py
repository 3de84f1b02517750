"""Where the local stack keeps its state: one project-local folder, so `make down` then
`make up` loses nothing and `rm -rf .local` starts from scratch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StackPaths:
    home: Path

    @property
    def pgdata(self) -> Path:
        return self.home / "postgres" / "data"

    @property
    def postgres_log(self) -> Path:
        return self.home / "logs" / "postgres.log"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def secrets_file(self) -> Path:
        return self.home / "secrets.json"

    @property
    def environment_file(self) -> Path:
        return self.run / "environment.json"

    @property
    def settings_file(self) -> Path:
        return self.run / "settings.json"

    @property
    def sqs_backlog_file(self) -> Path:
        return self.home / "sqs-backlog.json"

    @property
    def sqs_journal_file(self) -> Path:
        return self.home / "sqs-journal.json"

    @property
    def supervisor_state_file(self) -> Path:
        return self.run / "supervisor.json"

    def stamp_file(self, step: str) -> Path:
        return self.home / f"{step}.stamp.json"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def create(self) -> None:
        for folder in (self.home, self.pgdata.parent, self.logs, self.run, self.airflow_home):
            folder.mkdir(parents=True, exist_ok=True)
