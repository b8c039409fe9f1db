"""Open Climate Risk's wildfire pipeline as a Dagster code location.

``ocr_assets.defs`` (the :class:`dagster.Definitions` of the environment named by
``OCR_ENVIRONMENT``) is built on first access, so importing a sub-package such as
``ocr_assets.science`` or ``ocr_assets.regions`` stays light and never reads the inputs.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """Load ``defs`` from :mod:`ocr_assets.definitions` on first access."""
    if name == "defs":
        from ocr_assets.definitions import defs

        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """List ``defs`` so tools that scan the module (``dagster -m ocr_assets``) find it."""
    return sorted([*globals(), "defs"])
