"""Fixtures of the configuration layer's tests (``ocr_assets.config``: settings, environments,
env files, compute sizes, naming and the deployment plan).

- ``in_repo`` (function): ``clean_env`` (no ``OCR_*`` deployment variable in the process) with
  the repository root as the working folder, where the command line finds the environments'
  env files; returns the ``MonkeyPatch``.
"""

from __future__ import annotations

import pytest

from ocr_assets_tests.helpers import REPO_ROOT


@pytest.fixture
def in_repo(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No deployment variable in the process; the repository root as the working folder."""
    clean_env.chdir(REPO_ROOT)
    return clean_env
