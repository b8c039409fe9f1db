"""Fixtures shared by the ``test_deploy_*`` modules (import the ones a module uses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocr_assets.deploy.environments import DEPLOYMENT_VARIABLES

#: The repository root (env files, workflows, docker/).
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_deploy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No deployment variable or GitHub Actions file variable in the process environment."""
    for name in (*DEPLOYMENT_VARIABLES, "GITHUB_OUTPUT", "GITHUB_ENV"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
