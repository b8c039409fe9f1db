"""The Dagster entry point (``-m ocr_assets.definitions``, ``workspace.yaml``): ``defs``.

The settings of the process environment are parsed here, once (a malformed setting stops the
load with a message naming it, before any compute, so ``dagster asset materialize``, ``dagster
job execute`` and the UI refuse what ``ocr-assets plan`` refuses), the storage layer is
configured with them, and :func:`ocr_assets.code_location.build_definitions` builds the code
location. Loading reads no data.
"""

from __future__ import annotations

from ocr_assets.code_location import build_definitions
from ocr_assets.config.settings import Settings
from ocr_assets.storage.config import configure

__all__ = ["SETTINGS", "defs"]

#: The settings of the process environment.
SETTINGS = Settings.from_env()
configure(SETTINGS.storage)
defs = build_definitions(SETTINGS)
