"""Fixtures of the synthetic inputs' tests (``ocr_assets.synthetic``).

The tests use the shared ``tiny_grid``, ``synthetic_root`` and ``synthetic_catalog`` fixtures of
``ocr_assets_tests/conftest.py``; none is specific to this folder yet.
"""
