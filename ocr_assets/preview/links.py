"""Links into the local preview (``ocr-assets preview``), for materialization metadata.

A link opens the preview page at an extent: ``http://127.0.0.1:8050/#bounds=W,S,E,N`` (degrees,
EPSG:4326). Without bounds the page opens at the extent of the outputs it finds, which is the
extent of every roll-up. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Where ``ocr-assets preview`` serves by default.
DEFAULT_PREVIEW_URL = "http://127.0.0.1:8050/"


def preview_url(bounds: Sequence[float] | None = None, base_url: str = DEFAULT_PREVIEW_URL) -> str:
    """The preview page at ``bounds`` (west, south, east, north), or at the outputs' extent.

    Raises:
        ValueError: bounds that are not four finite numbers with west < east and south < north
            inside [-180, 180] x [-90, 90].
    """
    if bounds is None:
        return base_url
    values = [float(v) for v in bounds]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValueError(
            f"bounds must be four finite numbers (west, south, east, north): {bounds!r}"
        )
    west, south, east, north = values
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ValueError(
            f"bounds {bounds!r} are not (west, south, east, north) with west < east and "
            "south < north in degrees"
        )
    return f"{base_url}#bounds=" + ",".join(f"{v:.6f}" for v in values)
