"""A cluster factory for :class:`ocr_assets.resources.ComputeResource` tests.

``ComputeResource(cluster_factory="ocr_assets_tests.compute_fakes:recording_cluster")`` records
the keyword arguments a cluster was asked for (exactly what ``coiled.Cluster`` would get) and
returns a small in-process ``distributed.LocalCluster``, so the work still runs.
"""

from __future__ import annotations

from typing import Any

from distributed import LocalCluster

#: Keyword arguments of every cluster asked for, oldest first (clear it before a test).
CALLS: list[dict[str, Any]] = []

FACTORY_PATH = "ocr_assets_tests.compute_fakes:recording_cluster"


def recording_cluster(**kwargs: Any) -> LocalCluster:
    """Record ``kwargs``; return a one-worker, two-thread in-process cluster."""
    CALLS.append(kwargs)
    return LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address="127.0.0.1:0"
    )
