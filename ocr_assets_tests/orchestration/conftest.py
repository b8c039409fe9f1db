"""The Dagster wing's tests: assets, checks, IO managers, the compute resource.

Runs go through :mod:`ocr_assets_tests.helpers` (region partitions added to the instance, the
asset graph over a temporary storage root); :mod:`.compute_fakes` records what clusters the
compute resource asks for and serves them from a cluster whose worker is another process.
"""
