"""Fixtures of the entry points' tests: the code location (``ocr_assets.definitions``,
``ocr_assets.code_location``), ``make demo`` (``ocr_assets.demo``) followed by ``ocr-assets
verify``, the load time every ``dagster`` command pays, the layer contract, and the Dagster UI
(``scripts/ui_smoke.py``, loaded by ``test_ui.py``).

The tests use the shared ``synthetic_root``, ``tiny_grid`` and ``clean_env`` fixtures of
``ocr_assets_tests/conftest.py`` and the helpers of :mod:`ocr_assets_tests.helpers`; no fixture
is specific to this folder yet.
"""
