"""Open Climate Risk's wildfire pipeline as a Dagster code location.

Layers, top to bottom; a module imports only from layers below its own (``make lint`` checks
it with import-linter; ``docs/architecture.md`` explains each):

1. entry points: :mod:`.cli` (``ocr-assets``), :mod:`.demo` (``make demo``),
   :mod:`.definitions` (``dagster -m ocr_assets.definitions``)
2. :mod:`.code_location`: the Definitions of one environment
3. :mod:`.deploy`: the ``deploy`` job, ``verify``, the CI helpers
4. :mod:`.orchestration`: the Dagster wing (resources, IO managers, assets, checks, jobs)
5. :mod:`.config` (settings, policies, plans), :mod:`.synthetic` (demo inputs),
   :mod:`.preview` (the map)
6. :mod:`.catalog` (the inputs), :mod:`.rollups` (the CONUS roll-ups)
7. :mod:`.storage`: layout, atomic writes, the raster store, limits
8. :mod:`.science`, :mod:`.regions`, :mod:`.data`: pure science, the region grid, package data

``ocr_assets.defs`` (the Definitions of the environment the process settings name) is built on
first access, so importing a layer such as ``ocr_assets.science`` stays light and never reads
the settings.
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
