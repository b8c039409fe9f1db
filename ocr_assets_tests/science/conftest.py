"""Fixtures of the science's tests (``ocr_assets.science``: pure functions on arrays).

The science needs no storage, inputs or Dagster; its tests build their arrays themselves, and no
fixture is specific to this folder yet.
"""
