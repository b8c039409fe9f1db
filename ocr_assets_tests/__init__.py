"""Test suite of ocr_assets."""
