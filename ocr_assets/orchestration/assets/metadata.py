"""Materialization metadata: value summaries, thumbnails, and what a roll-up was built from.

The thumbnail is rendered with Pillow alone (matplotlib is not a dependency): the raster is
strided down, colour-mapped with a yellow-orange-red ramp, reduced to 8 colours and embedded in
Markdown as a ``data:`` URI, small enough (under 1000 characters) for the UI to show it in the
materialization's metadata without a click.
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

from ocr_assets.orchestration.readable import significant, size_text
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
                    "min": significant(float(finite.min())) if finite.size else float("nan"),
                    "max": significant(float(finite.max())) if finite.size else float("nan"),
                    "nan_share": significant(1.0 - finite.size / values.size)
                    if values.size
                    else 0.0,
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


#: The UI shows Markdown metadata inline (no click) only below this many characters.
INLINE_MARKDOWN_LIMIT = 1000
#: Thumbnail sizes tried, largest first: (pixels on the long side, nearest-neighbour scale).
_THUMBNAIL_SIZES = ((64, 2), (48, 3), (48, 2), (32, 3), (32, 2), (32, 1), (16, 1))


def thumbnail_png(raster: xr.DataArray, max_size: int, scale: int = 1) -> tuple[bytes, float]:
    """PNG of a ``(latitude, longitude)`` raster (latitude ascending), north up: strided to at
    most ``max_size`` pixels a side, enlarged ``scale`` times, 8 colours.

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
    image = Image.fromarray(colour_map(small, vmax))
    image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.quantize(colors=8, method=Image.Quantize.FASTOCTREE).save(
        buffer, format="PNG", optimize=True
    )
    return buffer.getvalue(), vmax


def thumbnail_metadata(raster: xr.DataArray, name: str) -> dict[str, dg.RawMetadataValue]:
    """``{name}``: Markdown embedding the largest thumbnail of ``raster`` the UI shows inline
    (:data:`INLINE_MARKDOWN_LIMIT`); ``{name} colours``: its legend."""
    for max_size, scale in _THUMBNAIL_SIZES:
        png, vmax = thumbnail_png(raster, max_size, scale)
        markdown = f"![{name}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
        if len(markdown) < INLINE_MARKDOWN_LIMIT:
            break
    units = raster.attrs.get("units", "")
    return {
        name: dg.MetadataValue.md(markdown),
        f"{name} colours": (
            f"light yellow = 0, dark red >= {significant(vmax)} {units} (99th percentile); "
            "transparent = NaN; north up"
        ),
    }


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
    """Where a roll-up's outputs are and how big: ``path`` (or ``paths``), ``size``."""
    locations = published.locations
    where: dict[str, dg.RawMetadataValue] = (
        {"path": dg.MetadataValue.path(next(iter(locations.values())))}
        if len(locations) == 1
        else {"paths": dg.MetadataValue.json(locations)}
    )
    return {**where, "size": size_text(published.bytes)}


def pmtiles_metadata(summary: PMTilesSummary) -> dict[str, dg.RawMetadataValue]:
    """Zoom range and features per layer of an archive."""
    return {
        "min_zoom": summary.min_zoom,
        "max_zoom": summary.max_zoom,
        "layers": dg.MetadataValue.json(summary.layers),
        "dagster/row_count": summary.features,
    }
