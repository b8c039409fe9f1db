"""What the preview shows: the published outputs of one environment, and which are missing.

The page draws four outputs of a :class:`~ocr_assets.storage.layout.Layout`: the regional,
building and centroid PMTiles archives and the risk pyramid. :func:`find_outputs` says which
exist (local folders or ``s3://``) and, for each missing one, how to make it. The page's
contract with the archives is here too: the property key of each value (the published numeric
keys of :mod:`ocr_assets.rollups.schema`, by name) and the zoom range of each census level.
"""

from __future__ import annotations

from dataclasses import dataclass

from ocr_assets.rollups.schema import (
    BUILDING_TILE_PROPERTIES,
    CENTROID_TILE_PROPERTIES,
    REGION_TILE_BBOX,
    REGION_TILE_NAMES,
    REGION_TILE_PROPERTIES,
)
from ocr_assets.storage import objects
from ocr_assets.storage.layout import Layout

#: Property key of each statistic in the regional archive (the published keys, inverted).
REGION_KEYS: dict[str, str] = {
    **{column: key for key, column in REGION_TILE_PROPERTIES.items()},
    "bbox": REGION_TILE_BBOX,
    **{column: key for key, column in REGION_TILE_NAMES.items()},
}
#: Property key of each variable in the building archive.
BUILDING_KEYS: dict[str, str] = {v: key for key, v in BUILDING_TILE_PROPERTIES.items()}
#: Property key of each variable in the centroid archive.
CENTROID_KEYS: dict[str, str] = {v: key for key, v in CENTROID_TILE_PROPERTIES.items()}
#: Census level (a layer of the regional archive) drawn at each zoom range ``[min, max)``.
LEVEL_ZOOMS: dict[str, tuple[int, int]] = {
    "nation": (0, 3),
    "states": (3, 5),
    "counties": (5, 8),
    "tracts": (8, 11),
    "blocks": (11, 24),
}
#: The pyramid variables the raster layer can show.
RASTER_VARIABLES: tuple[str, ...] = ("rps_2011", "rps_2047")


@dataclass(frozen=True)
class Output:
    """One output the page draws.

    Attributes:
        name: The name the page and the server use (``regions``, ``buildings``,
            ``building_centroids``, ``pyramid``).
        asset: The asset that writes it.
        location: Where it is.
        exists: Whether it is there.
    """

    name: str
    asset: str
    location: str
    exists: bool

    def how_to_make(self, environment: str) -> str:
        """One sentence telling how to make this output in ``environment``."""
        step = (
            "run `make demo`"
            if environment == "local"
            else f"run the deployment of {environment} (`ocr-assets plan -e {environment}`)"
        )
        extra = (
            " with the pyramid branch on (OCR_CREATE_PYRAMID=true)"
            if self.name == "pyramid"
            else ""
        )
        return f"materialize {self.asset}: {step}{extra}, or materialize it in the Dagster UI"

    def to_dict(self, environment: str) -> dict[str, object]:
        """``{name, asset, location, exists, how}`` for the page."""
        return {
            "name": self.name,
            "asset": self.asset,
            "location": self.location,
            "exists": self.exists,
            "how": self.how_to_make(environment),
        }


#: The PMTiles archives served at ``/pmtiles/{name}.pmtiles``.
ARCHIVES: tuple[str, ...] = ("regions", "buildings", "building_centroids")


def output_locations(layout: Layout) -> dict[str, tuple[str, str]]:
    """Output name -> (asset, location) of everything the page draws."""
    return {
        "regions": ("regional_pmtiles", layout.regional_pmtiles),
        "buildings": ("building_pmtiles", layout.building_pmtiles),
        "building_centroids": ("building_centroid_pmtiles", layout.building_centroid_pmtiles),
        "pyramid": ("risk_pyramid", layout.risk_pyramid),
    }


def find_outputs(layout: Layout) -> dict[str, Output]:
    """Output name -> :class:`Output`, checking each location (one request each)."""
    return {
        name: Output(name, asset, location, objects.exists(location))
        for name, (asset, location) in output_locations(layout).items()
    }
