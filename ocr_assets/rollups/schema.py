"""Column names, types, order and metadata of every published roll-up output.

One place for the published interface (docs/published-interface.md, "Outputs", explains it column by
column): the region building table the roll-ups read, the summary statistics, the analysis
files, the tile properties and the dataset metadata dicts.

The region building table has, in this order: the eight risk variables of
:data:`ocr_assets.science.VARIABLES` (float32), ``GEOID`` (15-digit census block), ``state``,
``county`` (strings), ``geometry`` (WKB, EPSG:4326) and a ``bbox`` covering column. Statistics
and tiles use the seven :data:`~ocr_assets.science.BUILDING_VARIABLES` (all but
``rps_scott``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ocr_assets.data import CENSUS_LEVELS
from ocr_assets.science import VARIABLES

#: The risk variables of the region building table, in published column order.
RISK_VARIABLES: tuple[str, ...] = (
    "rps_scott",
    "rps_2011",
    "rps_2047",
    "bp_2011",
    "bp_2047",
    "crps_scott",
    "bp_2011_riley",
    "bp_2047_riley",
)
#: The seven statistics variables (all but ``rps_scott``), in published column order.
STATISTICS_VARIABLES: tuple[str, ...] = RISK_VARIABLES[1:]


def _closed_range(spec: str) -> tuple[float, float]:
    low, high = spec.split("..")
    return float(low), float(high)


#: Closed value range of each building variable, from the science attributes.
VARIABLE_RANGES: dict[str, tuple[float, float]] = {
    name: _closed_range(VARIABLES[name]["valid_range"]) for name in STATISTICS_VARIABLES
}

#: The climates scored into histograms, and the RPS variable each histogram is computed from.
SCORED_CLIMATES: dict[str, str] = {"2011": "rps_2011", "2047": "rps_2047"}

#: Arrow types of the region building table's non-geometry columns, in published order.
REGION_BUILDING_TYPES: dict[str, pa.DataType] = {
    **{variable: pa.float32() for variable in RISK_VARIABLES},
    "GEOID": pa.string(),
    "state": pa.string(),
    "county": pa.string(),
}

#: The roll-up levels of the summary statistics: the census levels of the input catalog.
LEVELS: tuple[str, ...] = CENSUS_LEVELS

#: Name columns of each level, after ``GEOID``, in the summary statistics (published order).
NAME_COLUMNS: dict[str, tuple[str, ...]] = {
    "nation": ("NAME",),
    "states": ("STUSPS", "NAME"),
    "counties": ("NAME",),
    "tracts": (),
    "blocks": (),
}

#: Folder of each level under the analysis files (the published ``block`` is singular).
ANALYSIS_FOLDERS: dict[str, str] = {
    "blocks": "block",
    "tracts": "tracts",
    "counties": "counties",
    "states": "states",
    "nation": "nation",
}

#: Upper bin boundaries of the risk-score histograms (the published ``hist_bins``).
HISTOGRAM_BINS: tuple[float, ...] = (0.01, 0.02, 0.035, 0.06, 0.1, 0.2, 0.5, 1.0, 3.0, 100.0)
#: Elements of a histogram: the exact-zero count, then one per bin.
HISTOGRAM_LENGTH = len(HISTOGRAM_BINS) + 1
#: Histogram index of values the histogram drops (above the last boundary).
DROPPED = -1


def histogram_index(values: np.ndarray) -> np.ndarray:
    """Index (int8) of each value in the published risk-score histogram.

    0 for exactly 0; then upper-inclusive bins: 1 for ``x <= 0.01``, 2 for ``0.01 < x <= 0.02``,
    ..., 10 for ``3 < x <= 100``; :data:`DROPPED` for ``x > 100`` and NaN (DuckDB's
    ``histogram(x, hist_bins)`` behind ``list_resize(..., 10)``). Boundaries are compared at the
    values' precision, as DuckDB casts them to the column type (a float32 0.01 is in bin 1).
    """
    values = np.asarray(values)
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.dtype(np.float64)
    values = values.astype(dtype, copy=False)
    boundaries = np.asarray(HISTOGRAM_BINS, dtype=dtype)
    index = (np.searchsorted(boundaries, values, side="left") + 1).astype(np.int8)
    index[index > len(HISTOGRAM_BINS)] = DROPPED  # above 100, and NaN (sorted last)
    index[values == 0] = 0
    return index


def mean_column(variable: str) -> str:
    """Column holding the mean of ``variable`` in the summary statistics."""
    return f"{variable}_mean"


def median_column(variable: str) -> str:
    """Column holding the median of ``variable`` in the summary statistics."""
    return f"{variable}_median"


def histogram_column(climate: str) -> str:
    """Column holding the risk-score histogram of ``climate`` (``"2011"`` or ``"2047"``)."""
    return f"risk_score_{climate}_hist"


def histogram_index_column(climate: str) -> str:
    """Per-building histogram index column of ``climate`` in the per-region assignment tables."""
    return f"risk_score_{climate}_bin"


def statistics_schema(level: str) -> pa.Schema:
    """Arrow schema of one level's summary statistics, geometry (WKB) last (published order)."""
    fields = [pa.field("GEOID", pa.string())]
    fields += [pa.field(name, pa.string()) for name in NAME_COLUMNS[level]]
    fields.append(pa.field("building_count", pa.int64()))
    fields += [pa.field(mean_column(v), pa.float64()) for v in STATISTICS_VARIABLES]
    fields += [pa.field(median_column(v), pa.float32()) for v in STATISTICS_VARIABLES]
    fields += [pa.field(histogram_column(c), pa.list_(pa.float64())) for c in SCORED_CLIMATES]
    fields.append(pa.field("geometry", pa.binary()))
    return pa.schema(fields)


def analysis_columns(level: str) -> tuple[str, ...]:
    """Columns of the analysis files: the statistics without geometry."""
    return tuple(name for name in statistics_schema(level).names if name != "geometry")


#: Regional tile properties (published key -> statistics column), name columns apart.
REGION_TILE_PROPERTIES: dict[str, str] = {
    "0": "building_count",
    "1": mean_column("rps_2011"),
    "2": mean_column("rps_2047"),
    "3": median_column("rps_2011"),
    "4": median_column("rps_2047"),
    "5": histogram_column("2011"),
    "6": histogram_column("2047"),
    "7": "GEOID",
}
#: Regional tile property holding ``[xmin, ymin, xmax, ymax]`` of the polygon.
REGION_TILE_BBOX = "8"
#: Regional tile properties of the name columns (where the level has them).
REGION_TILE_NAMES: dict[str, str] = {"9": "NAME", "10": "STUSPS"}
#: Building tile properties (published key -> variable).
BUILDING_TILE_PROPERTIES: dict[str, str] = {
    str(key): variable for key, variable in enumerate(STATISTICS_VARIABLES)
}
#: Centroid tile properties (published key -> variable), rounded to 3 places.
CENTROID_TILE_PROPERTIES: dict[str, str] = {"0": "rps_2011", "1": "rps_2047"}

PROVIDER = "CarbonPlan"
TERMS_OF_ACCESS = "https://docs.carbonplan.org/ocr/en/latest/terms-of-data-access.html"
DATA_SOURCES = "https://docs.carbonplan.org/ocr/en/latest/reference/data-sources.html"
#: Version recorded when the outputs carry no version.
UNVERSIONED = "unversioned"

#: Licence of the vector outputs: they contain Overture Maps building footprints (ODbL).
VECTOR_LICENSE = {
    "license_name": "ODBL",
    "license_url": "https://opendatacommons.org/licenses/odbl/",
    "notice": (
        "Contains information from the Overture Maps Foundation database, which is made "
        "available here under the Open Database License (ODbL), a copy of which is available "
        "at https://opendatacommons.org/licenses/odbl/1-0/."
    ),
}
#: Licence of the raster outputs (region raster store, pyramid).
RASTER_LICENSE = {
    "license_name": "CC-BY-4.0",
    "license_url": "https://creativecommons.org/licenses/by/4.0/",
}


@dataclass(frozen=True)
class DatasetMetadata:
    """Dataset-level metadata published with the outputs (the published metadata dicts).

    :meth:`vector` goes into the GeoParquet key-value metadata (and ``_common_metadata``), the
    CSV ``# key: value`` header, the GeoJSON ``metadata`` member and the PMTiles metadata;
    :meth:`raster` into the attributes of the raster store and the pyramid. Both start with the
    same four keys (:meth:`common`).

    Attributes:
        version: The dataset version (``OCR_VERSION``), or :data:`UNVERSIONED`.
    """

    version: str = UNVERSIONED

    def __post_init__(self) -> None:
        if not self.version.strip() or any(c in self.version for c in "\r\n"):
            raise ValueError(
                f"DatasetMetadata.version must be one non-empty line: {self.version!r}"
            )

    @classmethod
    def for_version(cls, version: str | None) -> DatasetMetadata:
        """The metadata of ``version``, :data:`UNVERSIONED` when it is None or empty."""
        return cls(str(version) if version else UNVERSIONED)

    def common(self) -> dict[str, str]:
        """The four keys every published dataset starts with, in order."""
        return {
            "version": self.version,
            "provider": PROVIDER,
            "terms_of_access": TERMS_OF_ACCESS,
            "data_sources": DATA_SOURCES,
        }

    def vector(self) -> dict[str, str]:
        """The vector outputs' dict: the common keys, ODbL licence and Overture notice."""
        return {**self.common(), **VECTOR_LICENSE}

    def raster(self) -> dict[str, str]:
        """The raster outputs' dict: the common keys and the CC-BY-4.0 licence (no notice)."""
        return {**self.common(), **RASTER_LICENSE}
