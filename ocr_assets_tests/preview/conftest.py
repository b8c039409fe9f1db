"""Fixtures of the map preview's tests (``ocr_assets.preview`` and ``ocr-assets preview``).

The fixtures these tests use are built on module helpers (``test_preview.py``'s output tree,
``test_preview_browser.py``'s smoke script) and stay beside them; the shared ones
(``synthetic_root``, ``tiny_grid``, ``s3_bucket``) come from ``ocr_assets_tests/conftest.py``.
"""
