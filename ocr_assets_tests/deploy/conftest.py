"""Fixtures of the deployment layer's tests (``ocr_assets.deploy``: the ``deploy`` job, ``verify``,
the CI helpers; and what deploys it: the image, the workflows, the deployed instance).

The deployments run through :func:`ocr_assets_tests.helpers.run_deploy` (or ``make demo``'s
:func:`ocr_assets.demo.run_demo`) on a persistent instance
(:func:`~ocr_assets_tests.helpers.persistent_instance`), with the shared ``clean_env``,
``synthetic_root`` and ``s3_bucket`` fixtures of ``ocr_assets_tests/conftest.py``.

- ``postgres`` (module): a real PostgreSQL server for the deployed instance's run history
  (:class:`~ocr_assets_tests.deploy.deployed_instance.PostgresServer`; skipped without
  PostgreSQL), stopped and removed after the module.
- ``ui_smoke`` (session): ``scripts/ui_smoke.py`` (the UI smoke script the README names), loaded
  as a module: it starts ``dagster-webserver`` and queries it over GraphQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from ocr_assets_tests.deploy.deployed_instance import PostgresServer
from ocr_assets_tests.helpers import load_script


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 with a ``dagster`` database."""
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def ui_smoke() -> ModuleType:
    """``scripts/ui_smoke.py`` as a module."""
    return load_script("ui_smoke")
