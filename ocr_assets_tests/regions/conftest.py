"""Fixtures of the region grid's tests (``ocr_assets.regions``).

The tests build their grids themselves (``CONUS_GRID``, ``demo_grid``); no fixture is specific to
this folder yet.
"""
