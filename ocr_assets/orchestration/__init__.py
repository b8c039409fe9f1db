"""The Dagster wing: resources, IO managers, partitions, assets, checks and jobs.

==========================  ======================================================================
module                      what
==========================  ======================================================================
:mod:`.assets`              every asset and asset check, one module per domain
:mod:`.resources`           ``catalog``, ``storage`` and ``compute`` (clusters sized per asset)
:mod:`.clusters`            making clusters; running work where its data is
:mod:`.io_managers`         storing and loading values (Zarr, Icechunk, GeoParquet, tables)
:mod:`.partitions`          the region partitions
:mod:`.jobs`                the asset jobs of an environment (branches, retries)
:mod:`.graph`               assets + checks + jobs + resources of one environment
:mod:`.types`               the Dagster types of the region values
:mod:`.errors`              bad input as final failures
:mod:`.run_monitoring`      runs of killed processes marked failed (local instances)
==========================  ======================================================================

Imports the layers below it (``config``, ``catalog``, ``rollups``, ``storage``, ``science``,
...), never ``deploy`` or the entry points; see ``docs/architecture.md``.
"""
