"""How the storage layer talks to object stores: time-outs, attempts, endpoint, region.

The values come from the settings (:class:`ocr_assets.config.settings.Settings`, parsed once at
the entry point) and are handed to this layer with :func:`configure`; nothing here reads the
process environment. Work that runs on a cluster worker gets the orchestrating process's
configuration with its task and runs under it (:func:`using`), so a worker in another process
or on another machine bounds its calls exactly like the process that started it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import icechunk

#: Icechunk's log filter unless the user set their own (``ICECHUNK_LOG``): local commits are
#: serialised by a lock (see :mod:`ocr_assets.storage.raster_store`), which answers Icechunk's
#: warning that local storage cannot update a branch atomically; keep it out of every run's log.
QUIET_ICECHUNK_LOG = "warn,icechunk::storage::object_store=error"


@dataclass(frozen=True)
class StorageConfig:
    """Bounds and addresses of every object-store call.

    Attributes:
        connect_timeout: Seconds to open a connection (``OCR_STORAGE_CONNECT_TIMEOUT``).
        read_timeout: Seconds to wait for any answer on an open connection
            (``OCR_STORAGE_READ_TIMEOUT``).
        probe_timeout: Seconds one attempt of a probe, listing, lookup or stat may take in all
            (``OCR_STORAGE_PROBE_TIMEOUT``).
        stall_timeout: Seconds one attempt of a transfer (upload, download, copy, delete, an
            Icechunk write or commit) may make no progress; a transfer that progresses runs on
            (``OCR_STORAGE_STALL_TIMEOUT``).
        operation_timeout: Seconds one attempt of any operation may take in all, progress or
            not (``OCR_STORAGE_OPERATION_TIMEOUT``; ``None``: no total limit).
        attempts: Tries of an operation that failed transiently, the first included
            (``OCR_STORAGE_ATTEMPTS``).
        endpoint_url: An S3-compatible endpoint (``AWS_ENDPOINT_URL``; ``None``: AWS itself).
        region: The AWS region of the buckets (``AWS_REGION`` / ``AWS_DEFAULT_REGION``).
        icechunk_log: Icechunk's log filter (``ICECHUNK_LOG``; quiet by default; ``None``:
            leave Icechunk's own).
        writer: Who writes: the deployment lease's token while a deployment holds it (set by
            the deploy job, not a setting); it names the run's temporary upload prefixes, so
            the next deployment can tell them from its own
            (:func:`~ocr_assets.storage.objects.sweep_staging`).
    """

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    probe_timeout: float = 20.0
    stall_timeout: float = 60.0
    operation_timeout: float | None = None
    attempts: int = 3
    endpoint_url: str | None = None
    region: str | None = None
    icechunk_log: str | None = QUIET_ICECHUNK_LOG
    writer: str | None = None


_process_config = StorageConfig()
_task_config: ContextVar[StorageConfig | None] = ContextVar("ocr_storage_config", default=None)


def configure(config: StorageConfig) -> None:
    """Make ``config`` the process's storage configuration (entry points call this once)."""
    global _process_config
    _process_config = config
    if config.icechunk_log is not None:
        icechunk.set_logs_filter(config.icechunk_log)


def current() -> StorageConfig:
    """The configuration in effect: the task's (:func:`using`), else the process's."""
    return _task_config.get() or _process_config


@contextmanager
def using(config: StorageConfig) -> Iterator[StorageConfig]:
    """Run the block under ``config`` (this thread and task only)."""
    token = _task_config.set(config)
    try:
        yield config
    finally:
        _task_config.reset(token)
