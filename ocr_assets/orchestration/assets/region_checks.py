"""Blocking data-quality checks on ``region_risk_rasters`` (the data schema of docs/science.md).

One multi-check reads the region back through the raster IO manager once (lazily) and reports
four checks, evaluated on the region's cluster. They are partitioned like the rasters, so every
region's result is recorded under its partition (when a run targets one region, as every
partitioned job run and every deployment's region run does), and blocking, so
``region_buildings`` of a region whose rasters fail is not materialized. The same checks
(:func:`region_check_outcomes`) run on the computed rasters before ``region_risk_rasters``
returns them (:func:`require_passing`), so a failing region never reaches the store's ``main``.

- ``bp_in_unit_interval``: every burn probability in [0, 1].
- ``rps_crps_in_percent_range``: RPS and CRPS in [0, 100] (%).
- ``grid_matches_region``: the store was built for the inputs' grid and the region's pixels sit
  exactly on the region's window.
- ``nan_only_where_explained``: a NaN output pixel lies where an input is NaN or the wind
  distribution has no fire-weather hours, grown by the reach of the processing (the Gaussian
  blur spreads NaN by its kernel radius; a 270 m Riley cell spans 9 pixels of 30 m).
"""

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
import numpy as np
import xarray as xr
from scipy import ndimage

from ocr_assets import science
from ocr_assets.catalog import RILEY_RESOLUTION_M, InputCatalog, RegionInputs
from ocr_assets.orchestration.partitions import REGION_PARTITIONS
from ocr_assets.orchestration.resources import ComputeResource, InputCatalogResource
from ocr_assets.regions import RegionGrid
from ocr_assets.storage import store_window
from ocr_assets.storage.raster_store import region_of

#: The asset the checks are on (defined in :mod:`ocr_assets.orchestration.assets.regions`).
RASTERS = dg.AssetKey("region_risk_rasters")
WIND = dg.AssetKey("wind_direction_distribution")

UNIT_INTERVAL_VARIABLES = ("bp_2011", "bp_2047", "bp_2011_riley", "bp_2047_riley")
PERCENT_VARIABLES = ("rps_2011", "rps_2047", "crps_scott", "rps_scott")

#: The region checks and what each asserts.
REGION_CHECKS: dict[str, str] = {
    "bp_in_unit_interval": "Burn probabilities are in [0, 1].",
    "rps_crps_in_percent_range": "RPS and CRPS are in [0, 100] %.",
    "grid_matches_region": "The region's pixels are exactly the region's window of the grid.",
    "nan_only_where_explained": (
        "NaN only where an input is NaN or a pixel has no fire-weather hours."
    ),
}

#: Metres per degree of latitude used for the pixel height (docs/science.md, smoothing step).
_METRES_PER_DEGREE = 111_000.0


def out_of_range(ds: xr.Dataset, names: tuple[str, ...], low: float, high: float) -> dict[str, int]:
    """Number of finite values outside ``[low, high]`` per variable (missing variable: -1)."""
    counts: dict[str, int] = {}
    for name in names:
        if name not in ds:
            counts[name] = -1
            continue
        values = np.asarray(ds[name].values)
        with np.errstate(invalid="ignore"):
            counts[name] = int(np.count_nonzero((values < low) | (values > high)))
    return counts


def grid_mismatches(
    ds: xr.Dataset, store_grid: dict, grid: RegionGrid, region_id: str
) -> list[str]:
    """Ways in which the stored region differs from the region's window on ``grid``."""
    problems = []
    if store_grid != grid.to_dict():
        problems.append(f"store grid {store_grid} differs from the inputs' grid {grid.to_dict()}")
    lat_slice, lon_slice = store_window(grid, region_id)
    expected = {"latitude": grid.latitude()[lat_slice], "longitude": grid.longitude()[lon_slice]}
    for dim, values in expected.items():
        actual = np.asarray(ds[dim].values)
        if actual.shape != values.shape:
            problems.append(f"{dim}: {actual.size} pixels, the region has {values.size}")
        elif np.max(np.abs(actual - values)) > grid.pixel_size * 1e-3:
            problems.append(f"{dim}: coordinates are off the region's pixel centres")
    return problems


def nan_reach_pixels(pixel_size: float) -> int:
    """How far (in pixels) processing can carry a NaN from its source.

    The Gaussian blur's kernel radius plus one 270 m Riley cell (reprojection to 30 m).
    """
    blur_radius = science.gaussian_kernel_size(pixel_size) // 2
    riley_cell = math.ceil(RILEY_RESOLUTION_M / (pixel_size * _METRES_PER_DEGREE))
    return blur_radius + riley_cell


def unexplained_nans(
    ds: xr.Dataset, inputs: RegionInputs, wind: xr.DataArray, reach: int
) -> dict[str, int]:
    """NaN pixels per variable that no NaN input or fire-weather-free pixel within ``reach`` explains.

    ``inputs`` and ``wind`` are on the buffered window; ``ds`` is the region.
    """
    sources = (
        inputs.crps.isnull().values
        | inputs.rps.isnull().values
        | (wind.sum("wind_direction") <= 0).values
        | wind.isnull().any("wind_direction").values
    )
    for riley in inputs.riley_30m.values():
        sources |= riley.isnull().values
    grown = ndimage.maximum_filter(sources.astype(np.uint8), size=2 * reach + 1, mode="nearest")
    explained = science.crop(
        xr.DataArray(
            grown.astype(bool),
            dims=("latitude", "longitude"),
            coords={
                "latitude": inputs.crps["latitude"].values,
                "longitude": inputs.crps["longitude"].values,
            },
        ),
        inputs.bounds,
    ).values
    return {
        str(name): int(np.count_nonzero(np.isnan(variable.values) & ~explained))
        for name, variable in ds.data_vars.items()
    }


@dataclass(frozen=True)
class CheckOutcome:
    """One region check's verdict and the evidence for it (JSON values)."""

    name: str
    passed: bool
    evidence: dict[str, Any]

    @property
    def metadata(self) -> dict[str, Any]:
        """The evidence as Dagster metadata (containers as JSON)."""
        return {
            key: dg.MetadataValue.json(value) if isinstance(value, dict | list) else value
            for key, value in self.evidence.items()
        }


class RegionValidationError(ValueError):
    """A region's rasters fail the region checks (bad input: retrying cannot help)."""


def region_check_outcomes(
    ds: xr.Dataset,
    store_grid: dict,
    grid: RegionGrid,
    region_id: str,
    inputs: RegionInputs,
    wind: xr.DataArray,
) -> list[CheckOutcome]:
    """The four region checks on ``ds`` (the region's rasters, in memory or read back).

    ``store_grid`` is the grid the raster store was built for, ``inputs`` and ``wind`` (the
    wind distribution regridded onto the buffered window) what the region was computed from.
    """
    outcomes = []
    for name, variables, high in (
        ("bp_in_unit_interval", UNIT_INTERVAL_VARIABLES, 1.0),
        ("rps_crps_in_percent_range", PERCENT_VARIABLES, 100.0),
    ):
        counts = out_of_range(ds, variables, 0.0, high)
        outcomes.append(
            CheckOutcome(
                name,
                all(n == 0 for n in counts.values()),
                {"values_out_of_range": counts},
            )
        )
    problems = grid_mismatches(ds, store_grid, grid, region_id)
    outcomes.append(
        CheckOutcome(
            "grid_matches_region",
            not problems,
            {"problems": problems, "shape": dict(ds.sizes)},
        )
    )
    reach = nan_reach_pixels(grid.pixel_size)
    unexplained = unexplained_nans(ds, inputs, wind, reach)
    outcomes.append(
        CheckOutcome(
            "nan_only_where_explained",
            not any(unexplained.values()),
            {"unexplained_nan_pixels": unexplained, "reach_pixels": reach},
        )
    )
    return outcomes


def require_passing(region_id: str, outcomes: list[CheckOutcome]) -> None:
    """Raise :class:`RegionValidationError` naming every failed check and its evidence."""
    failed = [outcome for outcome in outcomes if not outcome.passed]
    if failed:
        details = "; ".join(f"{outcome.name} {outcome.evidence}" for outcome in failed)
        raise RegionValidationError(
            f"region {region_id}: the rasters fail the region checks, nothing committed: "
            f"{details}; check the region's inputs"
        )


def regridded_wind(wind: xr.DataArray, inputs: RegionInputs) -> xr.DataArray:
    """The coarse wind direction distribution regridded onto ``inputs``' buffered window."""
    return science.regrid_wind_distribution(
        wind, inputs.crps["latitude"].values, inputs.crps["longitude"].values
    )


def check_region(input_root: str, rasters: xr.Dataset, wind: xr.DataArray) -> list[CheckOutcome]:
    """The region checks of rasters read back from the store (on the region's cluster)."""
    stored_grid, region_id = region_of(rasters)
    catalog = InputCatalog(input_root)
    inputs = catalog.region_inputs(region_id)
    return region_check_outcomes(
        rasters,
        stored_grid.to_dict(),
        catalog.grid,
        region_id,
        inputs,
        regridded_wind(wind, inputs),
    )


# Partitioned asset checks are a preview feature of Dagster 1.13, used knowingly: without them
# a region's result is recorded without its partition.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)
    _SPECS = [
        dg.AssetCheckSpec(
            name,
            asset=RASTERS,
            partitions_def=REGION_PARTITIONS,
            blocking=True,
            description=description,
            additional_deps=[WIND],
        )
        for name, description in REGION_CHECKS.items()
    ]


@dg.multi_asset_check(
    specs=_SPECS,
    ins={"stored": dg.AssetIn(RASTERS), "wind": dg.AssetIn(WIND)},
)
def region_risk_raster_checks(
    catalog: InputCatalogResource, compute: ComputeResource, stored: xr.Dataset, wind: Any
) -> Iterator[dg.AssetCheckResult]:
    """Read the region back through the raster IO manager and check it (region's cluster)."""
    outcomes = compute.run(RASTERS.to_user_string(), check_region, catalog.root, stored, wind)
    for outcome in outcomes:
        yield dg.AssetCheckResult(
            check_name=outcome.name,
            asset_key=RASTERS,
            passed=outcome.passed,
            metadata=outcome.metadata,
        )
