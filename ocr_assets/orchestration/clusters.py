"""Dask clusters for the assets, and running work on them where its data lives.

- :func:`make_cluster` opens the cluster of a :class:`~ocr_assets.config.compute.ClusterSpec`
  (``distributed.LocalCluster`` or ``coiled.Cluster``, or an injected factory: the tests record
  what Coiled would be asked for that way); :func:`shared_local_cluster` is the process's one
  in-process cluster, shared by every local asset run (opening one per run cost 0.15-0.35 s).
- :func:`task` wraps a module-level function as a ``dask.delayed`` task: dask computes every
  lazy argument first (a dataset read lazily from storage, a value kept on the cluster), so the
  function receives plain values on the worker, and it runs under the orchestrating process's
  storage configuration (:func:`ocr_assets.storage.config.using`).
- :func:`run_where_it_lives` runs a function on a value where the value is: on the cluster that
  keeps it (a value an asset kept there, see ``ComputeResource.persist``), or here for a value
  in this process. The IO managers store values with it.
- :func:`wait_for` waits for a cluster's answer the way an operator would: it says every
  :data:`WAIT_REPORT_SECONDS` what it is waiting for and where (with the storage calls this
  process's workers wait on: a worker blocked in I/O still counts as running; those fail by
  themselves, see :mod:`ocr_assets.storage.objects`), and fails with
  :class:`ClusterStalledError` once no worker of the cluster has been able to run for the
  backend's :data:`STALL_SECONDS` (all lost, or all paused), instead of waiting forever.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import dask
from dask.delayed import Delayed

from ocr_assets.config.compute import (
    PACKAGE_SYNC_WARNING,
    ClusterSpec,
    coiled_cluster_kwargs,
    local_cluster_kwargs,
)
from ocr_assets.storage.config import StorageConfig, current, using
from ocr_assets.storage.objects import pending

logger = logging.getLogger(__name__)

#: Makes a cluster from keyword arguments; the cluster is a context manager that closes it.
ClusterFactory = Callable[..., AbstractContextManager[Any]]

#: Seconds between the "still waiting" lines of :func:`wait_for`.
WAIT_REPORT_SECONDS = 30.0
#: Seconds a cluster of each backend may have no worker able to run before :func:`wait_for`
#: fails. A local cluster has no way to get a worker back; Coiled replaces a lost (spot) worker,
#: which takes a few minutes to boot.
STALL_SECONDS = {"local": 60.0, "coiled": 600.0}
#: Seconds between two looks at the cluster while waiting.
_POLL_SECONDS = 2.0


class ClusterStalledError(RuntimeError):
    """No worker of the cluster could run for longer than the backend allows."""


#: Dask settings of the local clusters: no sampling of the GIL every millisecond (it feeds only
#: the dashboard, costs CPU, and under load prints "timed out waiting on channel" warnings into
#: the operator's terminal).
LOCAL_MONITOR = {"distributed.admin.system-monitor.gil.enabled": False}

#: The process's local clusters, by their keyword arguments (see :func:`shared_local_cluster`).
_LOCAL_CLUSTERS: dict[tuple[tuple[str, Any], ...], Any] = {}


def shared_local_cluster(spec: ClusterSpec) -> Any:
    """The process's ``distributed.LocalCluster`` of a local ``spec``, started on first use.

    Local specs differ only in threads, and an in-process cluster costs about 0.2 s to start and
    close, so every asset run of a process shares one; ``distributed`` closes it at exit.
    """
    from distributed import LocalCluster
    from distributed.core import Status

    kwargs = local_cluster_kwargs(spec)
    key = tuple(sorted(kwargs.items()))
    cluster = _LOCAL_CLUSTERS.get(key)
    if cluster is None or cluster.status != Status.running:
        with dask.config.set(LOCAL_MONITOR):
            cluster = _LOCAL_CLUSTERS[key] = LocalCluster(**kwargs)
    return cluster


def make_cluster(spec: ClusterSpec, factory: ClusterFactory | None = None) -> Any:
    """Create the cluster of ``spec``: use it as ``with make_cluster(spec) as cluster: ...``.

    Args:
        spec: From :meth:`ocr_assets.config.settings.Settings.cluster_spec`.
        factory: Called with the backend's keyword arguments; defaults to
            ``distributed.LocalCluster`` or ``coiled.Cluster`` (imported only when used).

    Returns:
        The factory's cluster, usable with ``distributed.Client(cluster)``.
    """
    if spec.backend == "local":
        kwargs = local_cluster_kwargs(spec)
        if factory is None:
            from distributed import LocalCluster

            with dask.config.set(LOCAL_MONITOR):
                return LocalCluster(**kwargs)
    else:
        kwargs = coiled_cluster_kwargs(spec)
        if not spec.software:
            logger.warning(PACKAGE_SYNC_WARNING)
        if factory is None:
            from coiled import Cluster as factory
    return factory(**kwargs)


@dataclass(frozen=True)
class WorkerRun:
    """A function's result, where on the cluster it ran and how long it took.

    One opaque object, so Dask does not walk the result to estimate its size.

    Attributes:
        result: What the function returned.
        worker: The worker's address (``in process`` outside a worker).
        pid: The worker's process ID.
        seconds: Wall time of the function.
    """

    result: Any
    worker: str
    pid: int
    seconds: float


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return str(get_worker().address)
    except ValueError:
        return "in process"


def _on_worker(
    fn: Callable[..., Any], config: StorageConfig, /, *args: Any, **kwargs: Any
) -> WorkerRun:
    """Run ``fn`` here under the storage configuration ``config``; its result and where it ran.

    Dask collections ``fn`` builds itself compute with this worker's threads (one machine sized
    for the asset), never back through the orchestrating client.
    """
    started = time.perf_counter()
    with using(config), dask.config.set(scheduler="threads"):
        result = fn(*args, **kwargs)
    return WorkerRun(result, _worker_address(), os.getpid(), time.perf_counter() - started)


def task(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Delayed:
    """``fn(*args, **kwargs)`` as one ``dask.delayed`` task returning a :class:`WorkerRun`.

    Lazy arguments (dask collections, values kept on the cluster) are computed first, on the
    cluster; ``fn`` must be an importable module-level function (it travels by reference).
    """
    return dask.delayed(_on_worker, pure=False)(fn, current(), *args, **kwargs)


def result_of(run: WorkerRun) -> Any:
    """The result of a :class:`WorkerRun` (a task of its own, so it stays on the worker)."""
    return run.result


def run_where_it_lives(fn: Callable[..., Any], value: Any, /, *args: Any) -> Any:
    """``fn(value, *args)`` on the cluster that keeps ``value``, or here for a plain value.

    A value kept on a cluster holds futures of the client that keeps it; that client runs the
    call there, so the value's data never comes to this process. Returns ``fn``'s (small)
    result.
    """
    from distributed import futures_of

    futures = futures_of(value)
    if not futures:
        return fn(value, *args)
    client = futures[0].client
    what = getattr(fn, "__qualname__", repr(fn))
    return wait_for(
        client.compute(task(fn, value, *args)), str(client.scheduler.address), what
    ).result


#: Extra tries of a failed task of :func:`map_here` (that task alone).
MAP_RETRIES = 1


def map_here(fn: Callable[..., Any], items: Sequence[Any], /, *args: Any) -> list[Any]:
    """``fn(item, *args)`` for every item, in parallel on the cluster this task runs on.

    Called from inside a task (a function given to ``ComputeResource.run``): the calling task
    leaves its thread while it waits (``distributed.worker_client``), so the tasks it starts
    can use every thread of the cluster. Outside a worker, the items run one by one here. A
    failed task is tried once more on its own; results come back in the order of ``items``.
    """
    from distributed import get_worker, worker_client

    try:
        get_worker()
    except ValueError:
        return [fn(item, *args) for item in items]
    what = getattr(fn, "__qualname__", repr(fn))
    with worker_client() as client:
        futures = client.compute([task(fn, item, *args) for item in items], retries=MAP_RETRIES)
        cluster = str(client.scheduler.address)
        return [wait_for(future, cluster, what).result for future in futures]


def _worker_states(client: Any) -> Counter[str]:
    """How many of the cluster's workers are in each state (``running``, ``paused``, ...)."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return Counter(str(worker.get("status", "unknown")) for worker in workers.values())


def wait_for(
    future: Any,
    cluster: str,
    what: str,
    *,
    stall_seconds: float = STALL_SECONDS["local"],
    report_seconds: float = WAIT_REPORT_SECONDS,
) -> Any:
    """``future.result()``, saying what is awaited and failing when the cluster cannot run it.

    Args:
        future: A ``distributed.Future``.
        cluster: The cluster's name, for the messages.
        what: What the future computes, for the messages.
        stall_seconds: How long the cluster may have no running worker (none left, or every one
            paused for memory) before the wait fails.
        report_seconds: Seconds between "still waiting" log lines.

    Raises:
        ClusterStalledError: no worker could run for ``stall_seconds``; names the cluster and
            its workers' states.
    """
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    started = last_report = time.monotonic()
    unable_since: float | None = None
    while not done.wait(_POLL_SECONDS):
        now = time.monotonic()
        states = _worker_states(future.client)
        if states.get("running", 0):
            unable_since = None
        elif unable_since is None:
            unable_since = now
        elif now - unable_since >= stall_seconds:
            future.cancel()
            raise ClusterStalledError(
                f"{what}: cluster {cluster} has had no worker able to run for "
                f"{now - unable_since:.0f} s (workers: {dict(states) or 'none'}); "
                "the work was cancelled (paused workers are short of memory)"
            )
        if now - last_report >= report_seconds:
            last_report = now
            storage = pending()
            logger.warning(
                "%s: still waiting for cluster %s after %.0f s (workers: %s)%s",
                what,
                cluster,
                now - started,
                dict(states) or "none",
                f"; waiting on storage: {'; '.join(storage)}" if storage else "",
            )
    return future.result()
