"""Zarr reads that give up on a silent store: every request of a lazily read dataset is bounded.

A dataset opened lazily (a stored array an IO manager loads, the raster store's regions) reads
its metadata when opened and its chunks whenever it is computed, often on a cluster worker,
long after any :func:`~ocr_assets.storage.objects.bounded_call` returned. Neither s3fs through
zarr nor Icechunk gives up on an endpoint that accepted the connection and never answers
(measured: a deployment waited more than 4 minutes opening the wind distribution, issue 17.2).
:class:`BoundedReads` wraps the Zarr store: each request must answer in time, a metadata
document, an existence check or a listing page within the probe deadline, a chunk within the
stall time-out, of the configuration in effect when the store was wrapped (it travels with the
store to the workers), or the read fails with
:class:`~ocr_assets.storage.errors.StorageUnavailableError` naming the key, the location and
the endpoint. One chunk is one answer, so a healthy read is never cut off as long as each
chunk arrives within the time-out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable
from typing import Any, TypeVar

import zarr
from zarr.abc.store import ByteRequest, Store
from zarr.core.buffer import Buffer, BufferPrototype

from ocr_assets.storage import objects
from ocr_assets.storage.config import StorageConfig, current
from ocr_assets.storage.errors import StorageUnavailableError
from ocr_assets.storage.layout import is_remote

T = TypeVar("T")

#: Keys of Zarr metadata documents (v3 and v2): small, read under the probe deadline.
_METADATA = ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata")


def _is_metadata(key: str) -> bool:
    return key.rsplit("/", 1)[-1] in _METADATA


class BoundedReads(zarr.storage.WrapperStore[Store]):
    """A view of ``store`` whose every read request answers within the probe deadline
    (metadata, listings) or the stall time-out (chunks).

    Attributes:
        location: The store's location, for messages.
        limits: The storage configuration whose ``stall_timeout`` and endpoint apply.
    """

    def __init__(self, store: Store, location: str, limits: StorageConfig | None = None) -> None:
        super().__init__(store)
        self.location = location
        self.limits = limits or current()

    def _with_store(self, store: Store) -> BoundedReads:
        return type(self)(store, self.location, self.limits)

    async def _bounded(self, what: str, call: Awaitable[T], chunk: bool = False) -> T:
        seconds = self.limits.stall_timeout if chunk else self.limits.probe_timeout
        endpoint = self.limits.endpoint_url or "AWS S3"
        wait = objects.Wait("read", f"{self.location}/{what}", endpoint, time.monotonic(), None)
        deadline = wait.started + seconds
        request = asyncio.ensure_future(call)
        with objects.waiting(wait):
            while (remaining := deadline - time.monotonic()) > 0:
                done, _ = await asyncio.wait(
                    {request}, timeout=min(remaining, objects.WAIT_REPORT_SECONDS)
                )
                if done:
                    return request.result()
                if time.monotonic() < deadline:
                    objects.logger.warning("storage: still waiting: %s", wait.describe())
        # Not ``asyncio.wait_for``: it waits for the cancelled request to finish, and a client
        # blocked on a silent connection may not.
        request.cancel()
        raise StorageUnavailableError(
            f"read {self.location}/{what} failed at endpoint {endpoint}: "
            f"no answer within {seconds:g} s"
        )

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        """The value at ``key``, or ``None``; within the probe deadline (metadata) or the stall
        time-out (a chunk)."""
        return await self._bounded(
            key, self._store.get(key, prototype, byte_range), chunk=not _is_metadata(key)
        )

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Any
    ) -> list[Buffer | None]:
        """Several values at once; within the stall time-out."""
        return await self._bounded(
            "(several keys)", self._store.get_partial_values(prototype, key_ranges), chunk=True
        )

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists; within the probe deadline."""
        return await self._bounded(key, self._store.exists(key))

    async def _open(self) -> None:
        await self._bounded("(open)", self._store._open())

    async def _ensure_open(self) -> None:
        await self._bounded("(open)", self._store._ensure_open())

    async def is_empty(self, prefix: str) -> bool:
        """Whether nothing is stored under ``prefix``; within the probe deadline."""
        return await self._bounded(f"{prefix} (listing)", self._store.is_empty(prefix))

    async def getsize(self, key: str) -> int:
        """The size of the value at ``key``; within the probe deadline."""
        return await self._bounded(key, self._store.getsize(key))

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        for key, prototype, byte_range in requests:
            yield key, await self.get(key, prototype, byte_range)

    async def _each(self, what: str, listing: AsyncIterator[str]) -> AsyncIterator[str]:
        iterator = aiter(listing)
        while True:
            try:
                item = await self._bounded(what, anext(iterator))
            except StopAsyncIteration:
                return
            yield item

    def list(self) -> AsyncIterator[str]:
        """Every key; each page within the probe deadline."""
        return self._each("(listing)", self._store.list())

    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        """The keys under ``prefix``; each page within the probe deadline."""
        return self._each(f"{prefix} (listing)", self._store.list_prefix(prefix))

    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        """The keys directly under ``prefix``; each page within the probe deadline."""
        return self._each(f"{prefix} (listing)", self._store.list_dir(prefix))


def bounded_reads(store: Store, location: str) -> Store:
    """``store`` with bounded reads when ``location`` is remote (local disks do not go silent)."""
    return BoundedReads(store, location) if is_remote(location) else store
