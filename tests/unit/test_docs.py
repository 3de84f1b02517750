"""Documentation generated from code stays current (scripts/generate_docs.py, `make docs`)."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO_ROOT


def generator():
    spec = importlib.util.spec_from_file_location("generate_docs", REPO_ROOT / "scripts" / "generate_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_runtime_contract_page_and_the_settings_table_are_current():
    for path, text in generator().expected_files().items():
        assert path.read_text() == text, f"{path.relative_to(REPO_ROOT)} is stale: run `make docs`"


def test_the_contract_page_names_every_variable_and_component():
    from deploy_airflow_on_ecs_fargate import contract

    page = generator().runtime_contract()
    for name in [*contract.VARIABLES_BY_NAME, *contract.COMPONENT_NAMES]:
        assert f"`{name}`" in page
