"""Fixtures of the deployment layer's tests (``ocr_assets.deploy``: the ``deploy`` job, ``verify``,
the CI helpers; and what deploys it: the image, the workflows, the deployed instance).

The deployments run through :func:`ocr_assets_tests.helpers.run_deploy` (or ``make demo``'s
:func:`ocr_assets.demo.run_demo`) on a persistent instance
(:func:`~ocr_assets_tests.helpers.persistent_instance`), with the shared ``clean_env``,
``synthetic_root`` and ``s3_bucket`` fixtures of ``ocr_assets_tests/conftest.py``.

- ``ui_smoke`` (session): ``scripts/ui_smoke.py`` (the UI smoke script the README names), loaded
  as a module: it starts ``dagster-webserver`` and queries it over GraphQL.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from ocr_assets_tests.helpers import load_script


@pytest.fixture(scope="session")
def ui_smoke() -> ModuleType:
    """``scripts/ui_smoke.py`` as a module."""
    return load_script("ui_smoke")
