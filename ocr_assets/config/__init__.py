"""Configuration: the settings of a run and the deployment policies, without Dagster or I/O.

==========================  ======================================================================
module                      what
==========================  ======================================================================
:mod:`.settings`            :class:`Settings`: every variable a run reads, parsed once
:mod:`.environments`        the four environments' policies; region selections; flag parsing
:mod:`.compute`             per-asset cluster sizes (local, Coiled) and retry timing
:mod:`.envfile`             ``ocr-*.env`` files: parsing, key validation, layering
:mod:`.naming`              semantic versions, release tags, Coiled software environment names
:mod:`.plan`                what a deployment would do (``ocr-assets plan``)
==========================  ======================================================================

Only :mod:`.settings` reads the process environment. Imports only the layers below it
(``storage``, ``regions``, ``data``); see ``docs/architecture.md``.
"""
