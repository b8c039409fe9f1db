"""What asset bodies return, and what IO managers hand to the assets downstream.

An asset body returns its result; the IO manager of its output (:mod:`ocr_assets.io_managers`)
persists it and loads it for the assets downstream. The results of this pipeline are large (a
region's rasters are about a gigabyte, a CONUS PMTiles archive tens of gigabytes) and must be
computed on the asset's own cluster, never in the process that orchestrates the run. So an asset
body returns its result as a :class:`Deferred`: the module-level function that computes it and
that function's arguments (input handles, resource configuration, the partition key). The IO
manager evaluates it on the asset's cluster and writes it there, in one task, so the result
never leaves the worker that made it; in unit tests ``dagster.InMemoryIOManager`` keeps the
``Deferred`` and the test evaluates it with :meth:`Deferred.compute`, with no storage at all.

Results come in two kinds:

- **values** (the wind distribution, a region's :class:`RegionRasters`, a region's buildings as
  a GeoDataFrame): ``compute()`` returns the value, and the IO manager writes it.
- **files** made by a tool (DuckDB, tippecanoe, the Zarr pyramid writer): the function takes a
  keyword argument ``outputs``, a mapping of output name to a local path to write, and returns a
  small summary. The IO manager passes temporary paths of its own and publishes them atomically
  to the asset's locations once the function has returned.

Inputs from storage arrive the same way: an IO manager's ``load_input`` returns a ``Deferred``
reader (the function that reads the value back, and where from) or a location, never the data,
so a downstream asset's ``Deferred`` carries only handles to its cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import xarray as xr

from ocr_assets.regions import RegionGrid

#: Metadata of a materialization, as the describe function of a :class:`Deferred` returns it.
Metadata = dict[str, Any]


def resolve(value: Any) -> Any:
    """``value`` with every :class:`Deferred` in it (also in lists, tuples, dicts) computed."""
    if isinstance(value, Deferred):
        return value.compute()
    if isinstance(value, list | tuple):
        return type(value)(resolve(item) for item in value)
    if isinstance(value, dict):
        return {key: resolve(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Deferred:
    """A result computed where it is persisted: ``fn(*args)`` with every argument resolved.

    Attributes:
        fn: An importable module-level function (it travels to a cluster worker by reference).
        args: Its arguments; :class:`Deferred` ones (upstream results, storage readers) are
            computed first (:func:`resolve`).
        describe: Optional module-level function turning the computed value (or a file
            function's summary) into materialization metadata; the IO manager records it.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    describe: Callable[[Any], Metadata] | None = field(default=None, compare=False)

    def compute(self, **kwargs: Any) -> Any:
        """Evaluate here: resolve the arguments, call ``fn`` (with ``kwargs``, e.g. ``outputs``)."""
        return self.fn(*resolve(self.args), **kwargs)

    def metadata(self, value: Any) -> Metadata:
        """The materialization metadata of ``value`` (empty without a describe function)."""
        return self.describe(value) if self.describe is not None else {}


def evaluate(deferred: Deferred) -> Any:
    """``deferred.compute()`` as a module-level function (to run it on a cluster)."""
    return deferred.compute()


@dataclass(frozen=True)
class RegionRasters:
    """A region's risk rasters: the value of a ``region_risk_rasters`` partition.

    Attributes:
        region_id: The region.
        grid: The region grid of the inputs (places the region in the CONUS store).
        data: The 8 risk variables on the region's window (float32, ``latitude``/``longitude``).
        input_versions: Identities of the inputs it was computed from (kept with its commit,
            so a later deployment can tell that an input changed; empty when read back).
    """

    region_id: str
    grid: RegionGrid
    data: xr.Dataset
    input_versions: Mapping[str, Any] = field(default_factory=dict)
