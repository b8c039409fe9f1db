"""Fixtures of the input catalog's tests (``ocr_assets.catalog``).

- ``inputs_copy`` (function): a writable copy of the session's synthetic inputs
  (``synthetic_root``), for tests that damage or replace an input.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def inputs_copy(synthetic_root: Path, tmp_path: Path) -> Path:
    """A writable copy of the synthetic inputs."""
    root = tmp_path / "inputs"
    shutil.copytree(synthetic_root, root)
    return root
