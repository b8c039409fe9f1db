"""Materialization metadata: value summaries, thumbnails, and what a roll-up was built from.

The thumbnail is rendered with Pillow alone (matplotlib is not a dependency): the raster is
strided down to at most ``max_size`` pixels a side, colour-mapped with a yellow-orange-red ramp
and embedded in Markdown as a ``data:`` URI, which the UI renders inline.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import dagster as dg
import numpy as np
import xarray as xr
from PIL import Image

from ocr_assets.rollups.tiles import PMTilesSummary
from ocr_assets.storage import Published

# Yellow -> orange -> red -> dark red (the ColorBrewer YlOrRd end points), RGB at even steps.
_RAMP = np.array(
    [(255, 255, 204), (254, 217, 118), (253, 141, 60), (227, 26, 28), (128, 0, 38)],
    dtype=np.float64,
)


def variable_summary(ds: xr.Dataset) -> dg.TableMetadataValue:
    """A table with min, max and NaN share of every variable of ``ds``."""
    records = []
    for name, variable in ds.data_vars.items():
        values = np.asarray(variable.values)
        finite = values[np.isfinite(values)]
        records.append(
            dg.TableRecord(
                {
                    "variable": str(name),
                    "units": str(variable.attrs.get("units", "")),
                    "min": float(finite.min()) if finite.size else float("nan"),
                    "max": float(finite.max()) if finite.size else float("nan"),
                    "nan_share": float(1.0 - finite.size / values.size) if values.size else 0.0,
                }
            )
        )
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("variable", "string"),
            dg.TableColumn("units", "string"),
            dg.TableColumn("min", "float"),
            dg.TableColumn("max", "float"),
            dg.TableColumn("nan_share", "float", description="share of NaN pixels"),
        ]
    )
    return dg.MetadataValue.table(records, schema=schema)


def colour_map(values: np.ndarray, vmax: float) -> np.ndarray:
    """RGBA uint8 image of ``values`` scaled to ``[0, vmax]``; NaN pixels are transparent."""
    finite = np.isfinite(values)
    scaled = np.clip(np.where(finite, values, 0.0) / vmax, 0.0, 1.0)
    stops = np.linspace(0.0, 1.0, len(_RAMP))
    rgba = np.empty((*values.shape, 4), dtype=np.uint8)
    for channel in range(3):
        rgba[..., channel] = np.round(np.interp(scaled, stops, _RAMP[:, channel])).astype(np.uint8)
    rgba[..., 3] = np.where(finite, 255, 0)
    return rgba


def thumbnail_png(raster: xr.DataArray, max_size: int = 256) -> tuple[bytes, float]:
    """PNG of a ``(latitude, longitude)`` raster (latitude ascending), north up.

    Returns the PNG bytes and the value mapped to the darkest colour (the 99th percentile of
    the finite values, or 1 when there are none or all are zero).
    """
    values = np.asarray(raster.transpose("latitude", "longitude").values, dtype=np.float64)
    step = max(1, math.ceil(max(values.shape) / max_size))
    small = values[::-1][::step, ::step]
    finite = small[np.isfinite(small)]
    vmax = float(np.percentile(finite, 99)) if finite.size else 0.0
    if vmax <= 0:
        vmax = 1.0
    buffer = io.BytesIO()
    Image.fromarray(colour_map(small, vmax)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue(), vmax


def thumbnail_markdown(
    raster: xr.DataArray, title: str, max_size: int = 256
) -> dg.MarkdownMetadataValue:
    """Markdown embedding :func:`thumbnail_png` of ``raster`` with a one-line legend."""
    png, vmax = thumbnail_png(raster, max_size=max_size)
    encoded = base64.b64encode(png).decode("ascii")
    units = raster.attrs.get("units", "")
    return dg.MetadataValue.md(
        f"![{title}](data:image/png;base64,{encoded})\n\n"
        f"{title}: light yellow = 0, dark red >= {vmax:.3g} {units} (99th percentile); "
        "transparent = NaN; north up."
    )


#: Metadata key listing the regions a roll-up was built from.
BUILT_FROM_REGIONS = "built_from_regions"


def regions_metadata(region_ids: Sequence[str] | None) -> dict[str, dg.RawMetadataValue]:
    """``built_from_regions`` and ``region_count`` (empty when unknown)."""
    if region_ids is None:
        return {}
    return {
        BUILT_FROM_REGIONS: dg.MetadataValue.json(list(region_ids)),
        "region_count": len(region_ids),
    }


def published_metadata(published: Published[Any]) -> dict[str, dg.RawMetadataValue]:
    """Where a roll-up's outputs are and how big: ``path`` (or ``paths``), ``file_size_bytes``."""
    locations = published.locations
    where: dict[str, dg.RawMetadataValue] = (
        {"path": dg.MetadataValue.path(next(iter(locations.values())))}
        if len(locations) == 1
        else {"paths": dg.MetadataValue.json(locations)}
    )
    return {**where, "file_size_bytes": published.bytes}


def pmtiles_metadata(summary: PMTilesSummary) -> dict[str, dg.RawMetadataValue]:
    """Zoom range and features per layer of an archive."""
    return {
        "min_zoom": summary.min_zoom,
        "max_zoom": summary.max_zoom,
        "layers": dg.MetadataValue.json(summary.layers),
        "dagster/row_count": summary.features,
    }
