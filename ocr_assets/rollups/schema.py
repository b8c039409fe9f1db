"""Column names, types and ranges shared by every roll-up, and the dataset metadata they publish.

The region building table (docs/INTERFACES.md) has ``id``, ``geometry`` (EPSG:4326), ``GEOID``
(15-digit census block), ``state``, ``county``, ``region_id`` and the eight risk variables of
:data:`ocr_assets.science.VARIABLES` (float32). Statistics and tiles use the seven
:data:`~ocr_assets.science.BUILDING_VARIABLES` (all but ``rps_scott``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from ocr_assets.catalog import CENSUS_LEVELS
from ocr_assets.science import BUILDING_VARIABLES, VARIABLES


def _closed_range(spec: str) -> tuple[float, float]:
    low, high = spec.split("..")
    return float(low), float(high)


#: Closed value range of each building variable, from the science attributes.
VARIABLE_RANGES: dict[str, tuple[float, float]] = {
    name: _closed_range(VARIABLES[name]["valid_range"]) for name in BUILDING_VARIABLES
}

#: The climates scored into histograms, and the RPS variable each score is computed from.
SCORED_CLIMATES: dict[str, str] = {"2011": "rps_2011", "2047": "rps_2047"}

#: Arrow types of the region building table's non-geometry columns.
REGION_BUILDING_TYPES: dict[str, pa.DataType] = {
    "id": pa.string(),
    "GEOID": pa.string(),
    "state": pa.string(),
    "county": pa.string(),
    "region_id": pa.string(),
    **{variable: pa.float32() for variable in VARIABLES},
}

#: The roll-up levels of the summary statistics: the census levels of the input catalog.
LEVELS: tuple[str, ...] = CENSUS_LEVELS

#: Columns a census level must have besides ``GEOID`` and ``geometry``.
REQUIRED_LEVEL_COLUMNS: dict[str, tuple[str, ...]] = {"states": ("NAME", "STUSPS")}

#: Name columns carried into the statistics when the census level has them.
NAME_COLUMNS: tuple[str, ...] = ("NAME", "STUSPS")


def mean_column(variable: str) -> str:
    """Column holding the mean of ``variable`` in the summary statistics."""
    return f"mean_{variable}"


def median_column(variable: str) -> str:
    """Column holding the median of ``variable`` in the summary statistics."""
    return f"median_{variable}"


def histogram_column(climate: str) -> str:
    """Column holding the risk-score histogram of ``climate`` (``"2011"`` or ``"2047"``)."""
    return f"risk_score_{climate}_hist"


def score_column(climate: str) -> str:
    """Per-building risk-score column of ``climate`` in the per-region assignment tables."""
    return f"risk_score_{climate}"


@dataclass(frozen=True)
class DatasetMetadata:
    """Dataset-level metadata published with every roll-up output.

    The same pairs go into the GeoParquet key-value metadata (and ``_common_metadata``), the
    CSV ``# key: value`` header, the GeoJSON ``metadata`` member and the PMTiles attribution.
    """

    version: str
    provider: str = "CarbonPlan"
    license: str = "CC-BY-4.0"
    license_url: str = "https://creativecommons.org/licenses/by/4.0/"
    building_notice: str = (
        "Building footprints from Overture Maps Foundation (https://overturemaps.org), "
        "available under the Open Database License (ODbL) 1.0 "
        "(https://opendatacommons.org/licenses/odbl/1-0/)."
    )

    def __post_init__(self) -> None:
        for name, value in self.as_dict().items():
            if not value.strip():
                raise ValueError(f"DatasetMetadata.{name} must not be empty")
            if any(c in value for c in "\r\n"):
                raise ValueError(f"DatasetMetadata.{name} must be a single line")

    def as_dict(self) -> dict[str, str]:
        """The metadata as ordered ``{key: value}`` strings."""
        return {
            "version": self.version,
            "provider": self.provider,
            "license": self.license,
            "license_url": self.license_url,
            "building_notice": self.building_notice,
        }

    def attribution(self) -> str:
        """One line crediting the provider, licence and building footprints (for tiles)."""
        return (
            f"{self.provider} Open Climate Risk {self.version}, {self.license} "
            f"({self.license_url}). {self.building_notice}"
        )
