"""The local map preview of a deployment's outputs (``ocr-assets preview``, ``make preview``).

- :mod:`.server`: the web server (page, PMTiles with range requests, raster tiles).
- :mod:`.raster`: PNG tiles of the risk pyramid.
- :mod:`.outputs`: which outputs the page draws, and the archives' property keys.
- :mod:`.classes`: the 11 risk-score classes, their bin edges and colours.
- :mod:`.links`: URLs opening the preview at an extent (Dagster metadata).

The page and its vendored JavaScript live in ``static/``.
"""

from ocr_assets.preview.links import DEFAULT_PREVIEW_URL, preview_url

__all__ = ["DEFAULT_PREVIEW_URL", "preview_url"]
