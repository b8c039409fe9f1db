"""Deploying: the ``deploy`` job, reading a deployment back, and the GitHub Actions helpers.

=================  ========================================================================
``job``            the ``deploy`` job: module-level ops over one pure decision function
``verify``         reading every published output back (``ocr-assets verify``)
``ci``             helpers for the GitHub Actions workflows (``python -m ocr_assets.deploy.ci``)
=================  ========================================================================

Sub-modules are imported explicitly; this package imports nothing, so ``ci`` can start from a
bare checkout.
"""
