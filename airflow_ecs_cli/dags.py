"""`airflow-ecs dags push`: mirror a DAGs folder into the deployment's DAG bucket.

The bucket is an Airflow DAG bundle (infrastructure/airflow_ecs/dag_bundle.py): the dag-processor
fetches it every AIRFLOW_DAGS_REFRESH_SECONDS and each task fetches it before it runs, so a push is
live without an image build or a deploy (docs/decisions/0072-dag-bundles-from-s3.md).

Nothing is uploaded unless every Python file compiles. Only what changed is uploaded (a file
whose MD5 differs from its object's ETag: SSE-S3 objects put in one part have their MD5 as ETag),
objects whose file is gone are deleted (the bucket is versioned: they stay restorable), and
`__pycache__` folders and bytecode are skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_ecs_cli.errors import OperatorError, bad_input
from airflow_ecs_cli.outputs import StackOutputs
from deploy_airflow_on_ecs_fargate import contract

# The Airflow stack's output naming the bucket (infrastructure/airflow_ecs/stack.py).
BUCKET_OUTPUT = "DagBucketName"
SKIPPED_FOLDERS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
# S3 deletes at most this many keys per request.
DELETE_BATCH = 1000
# How often the dag-processor fetches the bucket (the runtime's default, which the stack keeps).
REFRESH_SECONDS = int(contract.DAGS_REFRESH_SECONDS.default or 0)
# At most how long after a push the dag-processor has parsed it: one fetch interval, then finding
# the changed files (Airflow looks every 5 s, `bundle_refresh_check_interval`) and parsing them.
LIVE_WITHIN_SECONDS = REFRESH_SECONDS + 10


@dataclass(frozen=True)
class LocalFile:
    key: str
    path: Path
    md5: str


@dataclass(frozen=True)
class PushPlan:
    added: tuple[str, ...]
    changed: tuple[str, ...]
    deleted: tuple[str, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.deleted)


def bucket_of(outputs: StackOutputs) -> str:
    bucket = outputs.values.get(BUCKET_OUTPUT)
    if not bucket:
        raise OperatorError(
            f"stack {outputs.stack_name} has no DAG bucket: its DAGs are baked into the image (dag_source=image); "
            "deploy with `--settings dag_source=s3` to push DAGs, or build and deploy an image with them"
        )
    return bucket


def local_files(folder: Path) -> dict[str, LocalFile]:
    """Every file under `folder` by its object key (the path relative to it, with /)."""
    if not folder.is_dir():
        raise bad_input(f"no DAGs folder at {folder}: run from the project's root or give --folder PATH")
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or SKIPPED_FOLDERS & set(relative.parts) or path.suffix in SKIPPED_SUFFIXES:
            continue
        key = relative.as_posix()
        found[key] = LocalFile(key, path, hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest())
    if not found:
        raise bad_input(
            f"no files in {folder}: nothing pushed (pushing an empty folder would delete every DAG of the deployment)"
        )
    return found


def syntax_errors(files: dict[str, LocalFile]) -> list[str]:
    """One line per Python file that does not compile, as Python reports it."""
    errors = []
    for file in files.values():
        if file.path.suffix != ".py":
            continue
        try:
            compile(file.path.read_bytes(), file.key, "exec", dont_inherit=True)
        except SyntaxError as error:
            errors.append(f"{file.key} line {error.lineno}: {error.msg}")
        except ValueError as error:  # null bytes, undecodable source
            errors.append(f"{file.key}: {error}")
    return errors


def check_compiles(files: dict[str, LocalFile]) -> None:
    errors = syntax_errors(files)
    if errors:
        more = f" (and {len(errors) - 1} more file(s) with errors)" if len(errors) > 1 else ""
        raise bad_input(f"{errors[0]}{more}: nothing uploaded; fix it and push again")


def remote_objects(s3: Any, bucket: str) -> dict[str, str]:
    """Each object's key and ETag (without quotes)."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["ETag"].strip('"')
    return found


def plan(local: dict[str, LocalFile], remote: dict[str, str]) -> PushPlan:
    added = tuple(key for key in local if key not in remote)
    changed = tuple(key for key in local if key in remote and remote[key] != local[key].md5)
    deleted = tuple(sorted(key for key in remote if key not in local))
    return PushPlan(added, changed, deleted, len(local) - len(added) - len(changed))


def push(
    s3: Any,
    bucket: str,
    local: dict[str, LocalFile],
    to_do: PushPlan,
    on_change: Callable[[str, str], None] = lambda verb, key: None,
) -> None:
    """Upload, then delete: a DAG moved to another file is never missing in between."""
    for verb, keys in (("added", to_do.added), ("changed", to_do.changed)):
        for key in keys:
            s3.put_object(Bucket=bucket, Key=key, Body=local[key].path.read_bytes())
            on_change(verb, key)
    for start in range(0, len(to_do.deleted), DELETE_BATCH):
        batch = to_do.deleted[start : start + DELETE_BATCH]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True})
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise OperatorError(f"could not delete s3://{bucket}/{first['Key']}: {first['Message']}")
        for key in batch:
            on_change("deleted", key)
