"""Object-store operations on output locations, local or ``s3://``, through fsspec.

S3 endpoints come from the storage configuration (``AWS_ENDPOINT_URL`` in the settings, for
S3-compatible servers: MinIO, Ceph, a local test server), credentials from the standard AWS
sources the SDKs read themselves (keys, profiles, web identity or the container's role). Nothing here is specific to one store, so the same calls serve
local folders (tests, the demo) and buckets (deployments).

Remote writes are made atomic at the granularity S3 offers (see :func:`upload`): a file is one
PUT, which readers see whole or not at all; a folder is uploaded under a temporary sibling
prefix and only then copied into place, so a failing writer never touches the published
folder.

Faults. Every remote call is bounded (:class:`~ocr_assets.storage.config.StorageConfig`, the
configuration in effect: :func:`~ocr_assets.storage.config.current`): the S3 client gets connect and read time-outs and the
standard retry mode, each operation runs under a deadline (an endpoint that accepts connections
but never answers cannot block a step forever), and transient failures (network errors,
time-outs, throttling, 5xx answers) are retried a bounded number of times with exponential
backoff. What is left raises :class:`~ocr_assets.storage.errors.StorageUnavailableError` naming
the endpoint, the operation and the location. Errors that another attempt cannot fix (missing
file, access denied, bad data) are raised at once, unchanged.
"""

from __future__ import annotations

import atexit
import datetime as dt
import errno
import itertools
import json
import posixpath
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import botocore.exceptions
import fsspec
import stamina
from fsspec.implementations.local import LocalFileSystem

from ocr_assets.storage.config import current
from ocr_assets.storage.errors import StorageError, StorageUnavailableError
from ocr_assets.storage.layout import is_remote

T = TypeVar("T")

#: Files sent or fetched per bounded call when a folder is transferred.
TRANSFER_BATCH = 64

_TRANSIENT_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EPIPE,
}
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "500",
    "502",
    "503",
    "504",
}
#: A folder upload's temporary prefix: ``.{name}.tmp-{writer}-{UTC time}-{token}`` (``writer``:
#: the deployment lease's token, :attr:`StorageConfig.writer`), or the older ``.{name}.tmp-{token}``.
STAGING = re.compile(
    r"^\.(?P<name>.+)\.tmp-(?:(?P<writer>[0-9a-z]+)-(?P<stamp>\d{8}T\d{6}Z)-)?[0-9a-f]{12}$"
)
#: The writer named by uploads made outside a deployment's lease.
NO_WRITER = "nolease"

#: Fragments of Icechunk's (Rust) error messages that mean the store did not answer properly.
_TRANSIENT_TEXT = ("timed out", "timeout", "dispatch failure", "connection", "io error", "503")


def endpoint_url() -> str | None:
    """The configured S3-compatible endpoint (``None``: AWS itself)."""
    return current().endpoint_url


def filesystem(location: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem of ``location`` and the path on it.

    Filesystems are fsspec's cached instances, one per endpoint and limits (part of the cache
    key, so another configuration takes effect at once); creating an S3 client per call
    would cost more than most of the requests made with it.
    """
    if not is_remote(location):
        return LocalFileSystem(), str(location)
    protocol = location.split("://", 1)[0]
    options: dict[str, object] = {}
    if protocol == "s3":
        limits = current()
        if limits.endpoint_url:
            options["endpoint_url"] = limits.endpoint_url
        if limits.region:
            options["client_kwargs"] = {"region_name": limits.region}
        # Part of fsspec's cache key too: other limits, another client.
        options["config_kwargs"] = {
            "connect_timeout": limits.connect_timeout,
            "read_timeout": limits.read_timeout,
            "retries": {"max_attempts": limits.attempts, "mode": "standard"},
        }
    fs = fsspec.filesystem(protocol, **options)
    if protocol == "s3":
        fs.retries = 1  # botocore retries (above) and bounded_call do; s3fs's own loop is 5 more
    return fs, fs._strip_protocol(location)


def endpoint_name(location: str) -> str:
    """The endpoint serving ``location``, for messages (``AWS S3`` without ``AWS_ENDPOINT_URL``)."""
    if not location.startswith("s3://"):
        return location.split("://", 1)[0]
    return endpoint_url() or "AWS S3"


def is_transient(error: BaseException) -> bool:
    """True when another attempt may succeed: network errors, time-outs, throttling, 5xx."""
    if isinstance(error, StorageError):
        return isinstance(error, StorageUnavailableError)
    if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
        return False
    if isinstance(error, TimeoutError | ConnectionError):
        return True
    if isinstance(error, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
        return True
    if isinstance(error, botocore.exceptions.ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        return code in _TRANSIENT_CODES or status in _TRANSIENT_CODES
    if isinstance(error, OSError):
        return error.errno in _TRANSIENT_ERRNOS
    if type(error).__module__.startswith(("aiohttp", "icechunk")):
        text = str(error).lower()
        return type(error).__module__.startswith("aiohttp") or any(
            fragment in text for fragment in _TRANSIENT_TEXT
        )
    return False


#: Calls whose caller stopped waiting (see :func:`_within`), joined at exit.
_abandoned: list[threading.Thread] = []


def join_abandoned(seconds: float = 10.0) -> list[threading.Thread]:
    """Wait up to ``seconds`` in all for abandoned calls to return; return those still running.

    Called at interpreter exit: a native client call (Icechunk's) that returns while Python
    shuts down would otherwise abort the process instead of letting it exit with its status.
    """
    deadline = time.monotonic() + seconds
    for worker in list(_abandoned):
        worker.join(max(0.0, deadline - time.monotonic()))
    _abandoned[:] = [worker for worker in _abandoned if worker.is_alive()]
    return list(_abandoned)


atexit.register(join_abandoned)


class DeadlineExceeded(TimeoutError):
    """One attempt of a storage operation did not finish within its deadline."""


def _within(seconds: float, fn: Callable[[], T]) -> T:
    """``fn()`` run in a daemon thread; :class:`DeadlineExceeded` if it takes over ``seconds``.

    The clients' own time-outs do not cover every wait (a PUT to an endpoint that accepted the
    connection and never answers waits forever; Icechunk's S3 client has no read time-out), so
    the caller stops waiting instead. An abandoned call keeps its thread until it returns.
    """
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error

    worker = threading.Thread(target=target, name="ocr-storage-call", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        _abandoned.append(worker)
        raise DeadlineExceeded(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def bounded_call(operation: str, location: str, fn: Callable[[], T], retry: bool = True) -> T:
    """Run the storage call ``fn`` for ``operation`` on ``location`` within the storage limits.

    Local locations run ``fn`` directly. Remote ones run it under the operation deadline and
    retry transient errors (``retry=False``: once, for calls that must not be repeated blindly);
    a deadline that passed is not retried (the endpoint already had the whole deadline).

    Raises:
        StorageUnavailableError: naming the endpoint, the operation and the location, when the
            store did not answer in time or still failed transiently after the attempts.
        Exception: any other error of ``fn``, unchanged.
    """
    if not is_remote(location):
        return fn()
    limits = current()
    attempts = limits.attempts if retry else 1

    def retried(error: Exception) -> bool:
        return is_transient(error) and not isinstance(error, DeadlineExceeded)

    tried = 0
    try:
        for attempt in stamina.retry_context(
            on=retried, attempts=attempts, timeout=None, wait_initial=0.5, wait_max=10.0
        ):
            tried = attempt.num
            with attempt:
                return _within(limits.operation_timeout, fn)
    except Exception as error:
        if not is_transient(error):
            raise
        raise StorageUnavailableError(
            f"{operation} {location} failed at endpoint {endpoint_name(location)} after "
            f"{tried} attempt(s): {type(error).__name__}: {error}"
        ) from error
    raise AssertionError("unreachable: stamina either returns or raises")


def _batches(items: Iterable[T], size: int = TRANSFER_BATCH) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _in_batches(
    operation: str, location: str, items: Iterable[str], transfer: Callable[[list[str]], Any]
) -> None:
    """``transfer(batch)`` for every batch of ``items``, each one a bounded call.

    Lists of paths: s3fs sends the requests of a batch concurrently.
    """
    for batch in _batches(items):
        bounded_call(operation, location, lambda batch=batch: transfer(batch))


def exists(location: str) -> bool:
    """True when a file, folder or prefix exists at ``location``."""
    fs, path = filesystem(location)
    return bool(bounded_call("exists", location, lambda: fs.exists(path)))


def size(location: str) -> int:
    """Bytes of the file at ``location``, or of every file under the folder at ``location``."""
    fs, path = filesystem(location)

    def measure() -> int:
        if fs.isdir(path):
            return int(sum(fs.du(path, total=False).values())) if fs.find(path) else 0
        return int(fs.size(path))

    return bounded_call("size", location, measure)


def modified(location: str) -> float | None:
    """POSIX time the file at ``location`` was last written (``None`` when unknown)."""
    fs, path = filesystem(location)
    try:
        stamp = bounded_call("modified", location, lambda: fs.modified(path))
    except (NotImplementedError, IsADirectoryError, FileNotFoundError):
        return None
    return stamp.timestamp()


def read_json(location: str) -> Any:
    """The JSON document at ``location`` (``None`` when nothing is there).

    Raises:
        StorageError: naming the file when it is not JSON.
    """
    fs, path = filesystem(location)

    def read() -> bytes | None:
        try:
            return fs.cat_file(path)
        except FileNotFoundError:
            return None

    text = bounded_call("read", location, read)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as error:
        raise StorageError(f"{location}: not a JSON document: {error}") from error


def remove(location: str) -> None:
    """Delete the file or folder at ``location`` (nothing when absent)."""
    fs, path = filesystem(location)
    _remove_path(fs, path, location, "remove")


def _remove_path(fs: fsspec.AbstractFileSystem, path: str, location: str, operation: str) -> None:
    def delete() -> None:
        if fs.exists(path):
            fs.rm(path, recursive=True)

    bounded_call(operation, location, delete)


def ensure_writable_remote(location: str) -> None:
    """Prove that objects can be created (and deleted) under the prefix ``location``.

    Raises:
        StorageError: naming the location and the store's reason.
    """
    fs, path = filesystem(location)
    probe = posixpath.join(path, f".write-probe-{uuid.uuid4().hex}")
    try:
        bounded_call("write probe", location, lambda: fs.pipe_file(probe, b""))
        bounded_call("delete probe", location, lambda: fs.rm_file(probe))
    except StorageUnavailableError:
        raise
    except Exception as error:  # botocore / aiobotocore raise many types; all mean "cannot write"
        raise StorageError(
            f"cannot write to {location} (endpoint {endpoint_name(location)}): {error}"
        ) from error


def upload(source: Path, location: str) -> None:
    """Publish the local file or folder ``source`` at the remote ``location``.

    A file goes up in one PUT (atomic on S3). A folder goes up under a temporary sibling prefix
    (:func:`staging_name`: it names the writing deployment and the time); only when every file is there are the new files copied over the
    published folder server-side (each object is replaced whole), then the published files the
    new folder does not have are deleted, then the temporary prefix. A failed upload leaves the
    published folder as it was, and the published folder is never empty: during the copy
    readers can see old and new files side by side, never no files.
    """
    fs, target = filesystem(location)
    if source.is_file():
        bounded_call("upload", location, lambda: fs.put_file(str(source), target))
        return
    parent, name = posixpath.split(target)
    staging = posixpath.join(parent, staging_name(name))
    relative = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
    try:
        _in_batches(
            "upload",
            location,
            relative,
            lambda batch: fs.put(
                [str(source / item) for item in batch],
                [posixpath.join(staging, item) for item in batch],
            ),
        )
        old = _files_under(fs, target, location)
        _in_batches(
            "copy into place",
            location,
            relative,
            lambda batch: fs.copy(
                [posixpath.join(staging, item) for item in batch],
                [posixpath.join(target, item) for item in batch],
            ),
        )
        _in_batches(
            "delete stale files",
            location,
            sorted(set(old) - set(relative)),
            lambda batch: fs.rm([posixpath.join(target, item) for item in batch]),
        )
    finally:
        _remove_path(fs, staging, location, "delete staging")


def staging_name(name: str) -> str:
    """The temporary prefix a folder ``name`` is uploaded under: ``.{name}.tmp-{writer}-{UTC
    time}-{token}``, the writer being the deployment lease's token (:data:`NO_WRITER` outside
    a deployment)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f".{name}.tmp-{current().writer or NO_WRITER}-{stamp}-{uuid.uuid4().hex[:12]}"


def sweep_staging(
    folders: Iterable[str], keep: str, unleased_age: float = 3600.0
) -> list[tuple[str, int]]:
    """Delete the temporary upload prefixes (:data:`STAGING`) directly under ``folders``,
    except those of the writer ``keep``; return each removed prefix and its bytes.

    Only for a caller that holds the deployment lease of these folders: no other live
    deployment writes there, so another deployment's temporary prefix is a killed upload's.
    A prefix written outside a deployment (:data:`NO_WRITER`: an asset materialized from the
    UI, which takes no lease) is removed only when older than ``unleased_age`` seconds.
    Published outputs never match the pattern and are never touched.
    """
    now = dt.datetime.now(dt.UTC)

    def dead(match: re.Match[str]) -> bool:
        if match["writer"] == keep:
            return False
        if match["writer"] != NO_WRITER:
            return True
        started = dt.datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        return (now - started).total_seconds() > unleased_age

    swept: list[tuple[str, int]] = []
    for folder in folders:
        fs, path = filesystem(folder)

        def entries(fs: fsspec.AbstractFileSystem = fs, path: str = path) -> list[str]:
            try:
                return list(fs.ls(path, detail=False, refresh=True))
            except (FileNotFoundError, NotADirectoryError):
                return []

        for entry in bounded_call("list", folder, entries):
            match = STAGING.match(posixpath.basename(entry.rstrip("/")))
            if not match or not dead(match):
                continue
            location = posixpath.join(folder, posixpath.basename(entry.rstrip("/")))
            swept.append((location, size(location)))
            remove(location)
    return swept


def _files_under(fs: fsspec.AbstractFileSystem, path: str, location: str) -> list[str]:
    """Paths of the files under the folder ``path``, relative to it (empty when absent)."""
    found = bounded_call("list", location, lambda: fs.find(path))
    prefix = path.rstrip("/") + "/"
    return [item[len(prefix) :] for item in found if item.startswith(prefix)]


def download(location: str, destination: Path) -> Path:
    """Copy the file or folder at ``location`` to the local ``destination``; return it."""
    fs, path = filesystem(location)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if not bounded_call("stat", location, lambda: fs.isdir(path)):
        bounded_call("download", location, lambda: fs.get_file(path, str(destination)))
        return destination
    destination.mkdir(parents=True, exist_ok=True)
    files = _files_under(fs, path, location)
    for item in files:
        (destination / item).parent.mkdir(parents=True, exist_ok=True)
    _in_batches(
        "download",
        location,
        files,
        lambda batch: fs.get(
            [posixpath.join(path, item) for item in batch],
            [str(destination / item) for item in batch],
        ),
    )
    return destination
