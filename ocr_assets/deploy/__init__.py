"""Deployment logic without Dagster: environments, output layout, compute sizing, plans.

=================  ========================================================================
``naming``         semantic versions, release tags, Coiled software environment names
``environments``   the four environments' policies, region selections, variable parsing
``envfile``        ``ocr-*.env`` files: parsing, key validation, layering with the process
``layout``         where every output lives under a storage root (the one source of paths)
``compute``        per-asset cluster sizes, local / Coiled cluster factories, region retries
``plan``           the validated plan of a deployment (``ocr-assets plan``)
``verify``         reading every published output back (``ocr-assets verify``)
``cli``            the ``ocr-assets`` command line
``ci``             helpers for the GitHub Actions workflows (``python -m ocr_assets.deploy.ci``)
=================  ========================================================================

Sub-modules are imported explicitly; this package imports nothing, so ``naming`` (standard
library only) can run from a bare checkout.
"""
