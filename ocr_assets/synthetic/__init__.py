"""Deterministic synthetic "mini-CONUS" inputs with the shape of the real data sets.

``generate_inputs(root)`` writes, under ``root``, stand-ins for every input of the pipeline
with the real names, grids, CRSs, variable names, chunking scheme, census GEOID structure
and building schema (see :mod:`ocr_assets.catalog` for the list), on the demo region grid of
:func:`ocr_assets.regions.demo_grid` by default. Command line::

    python -m ocr_assets.synthetic --root data/inputs [--region-rows N --region-cols N --force]

The modules: ``landscape`` (ocean, lakes, towns), ``rasters`` (Riley and Scott),
``weather`` (CONUS404), ``vectors`` (census and buildings), ``generate`` (writing).
"""

from ocr_assets.synthetic.generate import (
    MANIFEST_FILE,
    SYNTHETIC_DEFAULTS,
    generate_inputs,
    input_names,
)

__all__ = ["MANIFEST_FILE", "SYNTHETIC_DEFAULTS", "generate_inputs", "input_names"]
