"""PNG map tiles of the risk pyramid, coloured by risk class, for the preview's raster layer.

The pyramid (``risk_pyramid``) is a Zarr group in the ndpyramid / ``@carbonplan/maps`` layout:
child groups ``"0" .. "N"``, group ``z`` holding full-world Web-Mercator ``(y, x)`` arrays of
``pixels_per_tile * 2**z`` pixels a side (row 0 at the north edge), one tile per chunk. A map
tile ``z/x/y`` of :data:`TILE_SIZE` pixels is cut from level ``min(z, N)`` with nearest-neighbour
sampling (finer zooms than ``N`` magnify the finest level), coloured by
:func:`ocr_assets.preview.classes.risk_class`, transparent where there is no data.

The pyramid is read through fsspec, so local folders and ``s3://`` work alike and credentials
stay in this process.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import zarr
from PIL import Image

from ocr_assets.preview.classes import class_rgba, risk_class
from ocr_assets.storage import objects

#: Side of the PNG tiles served, pixels.
TILE_SIZE = 256


class PyramidError(ValueError):
    """The pyramid does not have the expected layout; the message names what differs."""


@dataclass(frozen=True)
class Level:
    """One zoom level of the pyramid: its zoom and its arrays by variable name."""

    zoom: int
    arrays: dict[str, zarr.Array]

    @property
    def side(self) -> int:
        """Pixels per side of the level's full-world arrays."""
        return int(next(iter(self.arrays.values())).shape[-1])


class PyramidTiles:
    """Renders PNG tiles of the variables of a pyramid at ``location`` (local or ``s3://``).

    The pyramid is opened on first use; :class:`PyramidError` names the location and what is
    wrong when it is not a pyramid of ``variables``.
    """

    def __init__(self, location: str, variables: tuple[str, ...] = ("rps_2011", "rps_2047")):
        self.location = location
        self.variables = variables

    @cached_property
    def levels(self) -> list[Level]:
        """Every level, coarsest (zoom 0) first, validated."""
        fs, path = objects.filesystem(self.location)
        try:
            root = zarr.open_group(fs.get_mapper(path), mode="r")
        except FileNotFoundError as error:  # zarr's GroupNotFoundError is one
            raise PyramidError(f"no Zarr group at {self.location}: {error}") from error
        zooms = sorted(int(name) for name, _ in root.groups() if name.isdigit())
        if not zooms or zooms != list(range(len(zooms))):
            raise PyramidError(
                f"pyramid {self.location} has level groups {zooms}; expected 0..N without gaps"
            )
        levels = []
        for zoom in zooms:
            group = root[str(zoom)]
            missing = [v for v in self.variables if v not in group]
            if missing:
                raise PyramidError(f"level {zoom} of {self.location} lacks variables {missing}")
            levels.append(Level(zoom, {v: group[v] for v in self.variables}))
        pixels_per_tile = levels[0].side
        for level in levels:
            for name, array in level.arrays.items():
                expected = (pixels_per_tile * 2**level.zoom,) * 2
                if tuple(array.shape) != expected:
                    raise PyramidError(
                        f"{self.location}/{level.zoom}/{name} has shape {tuple(array.shape)}; "
                        f"expected {expected} (pixels_per_tile {pixels_per_tile} * 2**zoom)"
                    )
        return levels

    @property
    def max_zoom(self) -> int:
        """The finest level's zoom."""
        return self.levels[-1].zoom

    def values(self, variable: str, z: int, x: int, y: int) -> np.ndarray:
        """The ``TILE_SIZE`` square of ``variable`` under map tile ``z/x/y`` (NaN: no data).

        Raises:
            KeyError: an unknown variable.
            ValueError: a tile outside the world at zoom ``z``.
        """
        if variable not in self.variables:
            raise KeyError(f"unknown variable {variable!r}; expected one of {self.variables}")
        if z < 0 or not (0 <= x < 2**z and 0 <= y < 2**z):
            raise ValueError(f"tile {z}/{x}/{y} is outside the world")
        level = self.levels[min(z, self.max_zoom)]
        # Pixel index in the level of each output pixel's centre, along one axis.
        scale = level.side / (TILE_SIZE * 2**z)
        centres = (np.arange(TILE_SIZE) + 0.5) * scale
        cols = np.floor(x * TILE_SIZE * scale + centres).astype(np.int64)
        rows = np.floor(y * TILE_SIZE * scale + centres).astype(np.int64)
        array = level.arrays[variable]
        block = np.asarray(array[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], dtype=np.float32)
        sampled = block[np.ix_(rows - rows[0], cols - cols[0])]
        fill = array.fill_value
        if fill is not None and np.isfinite(fill):
            sampled[sampled == np.float32(fill)] = np.nan
        return sampled

    def png(self, variable: str, z: int, x: int, y: int) -> bytes:
        """The tile as an RGBA PNG coloured by risk class (transparent: no data)."""
        rgba = class_rgba()[risk_class(self.values(variable, z, x, y))]
        buffer = io.BytesIO()
        Image.fromarray(rgba).save(buffer, format="PNG")
        return buffer.getvalue()
