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
configuration in effect: :func:`~ocr_assets.storage.config.current`): the S3 client gets connect
and read time-outs and the standard retry mode, and each operation runs in a watched thread, so
an endpoint that accepts connections but never answers cannot block a step. A probe, listing
or lookup (:func:`bounded_call`) must answer within the probe deadline; a transfer
(:func:`bounded_transfer`) fails once it made no progress (an answer, a part, a file) for the
stall time-out, however long it runs. While a call waits, a warning says every
:data:`WAIT_REPORT_SECONDS` what is waited for and where (:func:`pending` lists the waits).
Transient failures (network errors, time-outs, throttling, 5xx answers) are retried a bounded
number of times with exponential backoff. What is left raises :class:`~ocr_assets.storage.errors.StorageUnavailableError` naming
the endpoint, the operation and the location. Errors that another attempt cannot fix (missing
file, access denied, bad data) are raised at once, unchanged.
"""

from __future__ import annotations

import atexit
import datetime as dt
import errno
import itertools
import json
import logging
import posixpath
import re
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import botocore.exceptions
import fsspec
import fsspec.asyn
import fsspec.callbacks
import stamina
from fsspec.implementations.local import LocalFileSystem

from ocr_assets.storage.config import current
from ocr_assets.storage.errors import StorageError, StorageUnavailableError
from ocr_assets.storage.layout import is_remote

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: Files sent or fetched per bounded call when a folder is transferred.
TRANSFER_BATCH = 64
#: Bytes per part of an upload: a file over twice this goes up in parts, each one progress.
PART_BYTES = 8 * 2**20
#: Bytes of a file sent in one small request, bounded like a probe (a record, a JSON document).
SMALL_FILE_BYTES = 2**20
#: Seconds between the "still waiting" lines of a storage call (the first after this long).
WAIT_REPORT_SECONDS = 15.0
#: Seconds between two looks at a running storage call.
_POLL_SECONDS = 0.1

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
    if isinstance(error.__cause__, botocore.exceptions.ClientError):
        # s3fs turns an S3 error answer into an OSError (SlowDown: EBUSY, InternalError:
        # EREMOTEIO, unknown codes: EIO) caused by the client's error: judge by the answer.
        return is_transient(error.__cause__)
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
    """One attempt of a storage operation got no answer, or made no progress, in time."""


class Progress:
    """When a transfer last moved: ticked on every part, file or chunk that completed.

    Shared between the thread that runs the transfer (and the client's event loop) and the
    thread that watches it; a float assignment is atomic, so no lock is needed.
    """

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.steps = 0

    def tick(self) -> None:
        """Something moved: a part or file was sent or received, a request was answered."""
        self.last = time.monotonic()
        self.steps += 1


class ProgressCallback(fsspec.callbacks.Callback):
    """An fsspec callback ticking ``progress`` whenever bytes or files of a transfer are done
    (not when a size is announced)."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def relative_update(self, inc: int = 1) -> None:
        """Bytes (or files, for a batch) done: progress."""
        super().relative_update(inc)
        self.progress.tick()

    def absolute_update(self, value: int) -> None:
        """Bytes (or files) done so far: progress."""
        super().absolute_update(value)
        self.progress.tick()

    def branched(self, path_1: str, path_2: str, **kwargs: Any) -> ProgressCallback:
        """The callback of one file of a batch: it ticks the same progress."""
        return ProgressCallback(self.progress)


@dataclass(frozen=True, eq=False)
class Wait:
    """A storage call someone is waiting for, as the "still waiting" lines describe it.

    Attributes:
        operation: What is done (``upload``, ``write probe``, ``commit region y1_x2``).
        location: Where (the output location).
        endpoint: The endpoint serving it.
        started: ``time.monotonic()`` when the attempt began.
        progress: The transfer's progress (``None``: a probe, which only has a deadline).
    """

    operation: str
    location: str
    endpoint: str
    started: float
    progress: Progress | None

    def describe(self, now: float | None = None) -> str:
        """``upload s3://b/x at endpoint http://e for 31 s, no progress for 31 s``."""
        now = time.monotonic() if now is None else now
        text = (
            f"{self.operation} {self.location} at endpoint {self.endpoint} "
            f"for {now - self.started:.0f} s"
        )
        if self.progress is not None:
            text += f", no progress for {now - self.progress.last:.0f} s"
        return text


#: The storage calls waited for right now, in this process (see :func:`pending`).
_waits: set[Wait] = set()
_waits_lock = threading.Lock()


def pending() -> list[str]:
    """What this process's storage calls are waiting for now, longest wait first.

    The cluster waits (:func:`ocr_assets.orchestration.clusters.wait_for`) add it to their
    "still waiting" lines: a worker blocked in I/O still counts as running.
    """
    now = time.monotonic()
    with _waits_lock:
        waits = sorted(_waits, key=lambda wait: wait.started)
    return [wait.describe(now) for wait in waits]


@contextmanager
def waiting(wait: Wait) -> Iterator[Wait]:
    """List ``wait`` in :func:`pending` while the block runs."""
    with _waits_lock:
        _waits.add(wait)
    try:
        yield wait
    finally:
        with _waits_lock:
            _waits.discard(wait)


def _within(
    wait: Wait, fn: Callable[[], T], deadline: float | None, stall: float | None = None
) -> T:
    """``fn()`` run in a daemon thread, watched: :class:`DeadlineExceeded` when it takes over
    ``deadline`` seconds in all, or (a transfer: ``wait.progress``) when it makes no progress
    for ``stall`` seconds.

    The clients' own time-outs do not cover every wait (a PUT to an endpoint that accepted the
    connection and never answers waits forever; Icechunk's S3 client has no read time-out), so
    the caller stops waiting instead. An abandoned call keeps its thread until it returns.
    Every :data:`WAIT_REPORT_SECONDS` of waiting a warning says what is waited for and where.
    """
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error

    worker = threading.Thread(target=target, name="ocr-storage-call", daemon=True)
    worker.start()
    next_report = wait.started + WAIT_REPORT_SECONDS
    with waiting(wait):
        while True:
            worker.join(_POLL_SECONDS)
            if not worker.is_alive():
                break
            now = time.monotonic()
            failure = None
            if deadline is not None and now - wait.started >= deadline:
                failure = f"no answer within {deadline:g} s"
            elif (
                wait.progress is not None
                and stall is not None
                and now - wait.progress.last >= stall
            ):
                failure = (
                    f"no progress for {stall:g} s ({wait.progress.steps} step(s) done in "
                    f"{now - wait.started:.0f} s)"
                )
            if failure is not None:
                _abandoned.append(worker)
                raise DeadlineExceeded(failure)
            if now >= next_report:
                next_report = now + WAIT_REPORT_SECONDS
                logger.warning("storage: still waiting: %s", wait.describe(now))
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _attempts(
    operation: str,
    location: str,
    run: Callable[[Wait], T],
    retry: bool,
) -> T:
    """``run(wait)`` for each attempt, transient errors retried; see :func:`bounded_call`."""
    limits = current()
    attempts = limits.attempts if retry else 1
    endpoint = endpoint_name(location)

    def retried(error: Exception) -> bool:
        return is_transient(error) and not isinstance(error, DeadlineExceeded)

    tried = 0
    try:
        for attempt in stamina.retry_context(
            on=retried, attempts=attempts, timeout=None, wait_initial=0.5, wait_max=10.0
        ):
            tried = attempt.num
            with attempt:
                return run(Wait(operation, location, endpoint, time.monotonic(), None))
    except Exception as error:
        if not is_transient(error):
            raise
        raise StorageUnavailableError(
            f"{operation} {location} failed at endpoint {endpoint} after "
            f"{tried} attempt(s): {type(error).__name__}: {error}"
        ) from error
    raise AssertionError("unreachable: stamina either returns or raises")


def _total(limit: float, cap: float | None) -> float:
    return limit if cap is None else min(limit, cap)


def bounded_call(operation: str, location: str, fn: Callable[[], T], retry: bool = True) -> T:
    """Run the storage call ``fn`` (a probe, a listing, a lookup) for ``operation`` on
    ``location`` within the storage limits.

    Local locations run ``fn`` directly. Remote ones run it under the probe deadline
    (``probe_timeout``: such a call is one or a few small answers) and retry transient errors
    (``retry=False``: once, for calls that must not be repeated blindly); a deadline that
    passed is not retried (the endpoint already had the whole deadline).

    Raises:
        StorageUnavailableError: naming the endpoint, the operation and the location, when the
            store did not answer in time or still failed transiently after the attempts.
        Exception: any other error of ``fn``, unchanged.
    """
    if not is_remote(location):
        return fn()
    limits = current()
    deadline = _total(limits.probe_timeout, limits.operation_timeout)
    return _attempts(operation, location, lambda wait: _within(wait, fn, deadline), retry)


def bounded_transfer(
    operation: str, location: str, fn: Callable[[Progress], T], retry: bool = True
) -> T:
    """Run the transfer ``fn(progress)`` for ``operation`` on ``location``, failing when it
    stalls.

    ``fn`` ticks ``progress`` whenever something moved (s3fs calls: pass
    ``ProgressCallback(progress)`` as their ``callback``); the attempt fails once it made no
    progress for ``stall_timeout`` seconds, however long it has run (a healthy many-gigabyte
    upload is never cut off; ``operation_timeout``, when set, caps one attempt in all). A call
    that cannot report progress is one answer: then ``stall_timeout`` bounds it in all.
    Otherwise as :func:`bounded_call`.
    """
    if not is_remote(location):
        return fn(Progress())
    limits = current()

    def run(wait: Wait) -> T:
        progress = Progress()
        watched = Wait(wait.operation, wait.location, wait.endpoint, wait.started, progress)
        return _within(
            watched, lambda: fn(progress), limits.operation_timeout, limits.stall_timeout
        )

    return _attempts(operation, location, run, retry)


def _batches(items: Iterable[T], size: int = TRANSFER_BATCH) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _in_batches(
    operation: str,
    location: str,
    items: Iterable[str],
    transfer: Callable[[list[str], Progress], Any],
) -> None:
    """``transfer(batch, progress)`` for every batch of ``items``, each one a bounded transfer.

    Lists of paths: s3fs sends the requests of a batch concurrently; each file done is progress.
    """
    for batch in _batches(items):
        bounded_transfer(
            operation, location, lambda progress, batch=batch: transfer(batch, progress)
        )


#: The transfer whose requests the running task makes (see :func:`_transfer`).
_transfer_progress: ContextVar[Progress | None] = ContextVar("ocr_transfer", default=None)
#: S3 clients whose answers tick the progress of the transfer that asked.
_hooked_clients: weakref.WeakSet[Any] = weakref.WeakSet()


def _answered(http_response: Any = None, **kwargs: Any) -> None:
    """botocore's ``after-call`` event: a successful answer is progress of its transfer."""
    progress = _transfer_progress.get()
    if progress is not None and http_response is not None and http_response.status_code < 400:
        progress.tick()


def _transfer(
    fs: fsspec.AbstractFileSystem, progress: Progress, method: str, *args: Any, **kwargs: Any
) -> Any:
    """``fs.{method}(*args, **kwargs)``, every successful answer of the store ticking
    ``progress`` (with the bytes an fsspec ``callback`` reports).

    On s3fs the request's task runs in the client's event loop, so the transfer it belongs to
    travels in a context variable, which the tasks the call starts inherit.
    """
    if not (getattr(fs, "async_impl", False) and hasattr(fs, "set_session")):
        return getattr(fs, method)(*args, **kwargs)

    async def run() -> Any:
        client = await fs.set_session()
        if client not in _hooked_clients:
            client.meta.events.register("after-call.s3", _answered)
            _hooked_clients.add(client)
        _transfer_progress.set(progress)
        return await getattr(fs, f"_{method}")(*args, **kwargs)

    return fsspec.asyn.sync(fs.loop, run)


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
    if not is_remote(location):
        if fs.exists(path):
            fs.rm(path, recursive=True)
        return
    found = bounded_call("list", location, lambda: fs.find(path))
    _in_batches(
        operation, location, found, lambda batch, progress: _transfer(fs, progress, "rm", batch)
    )


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

    A file goes up in one PUT, or in parts over :data:`PART_BYTES` (either way atomic on S3: the
    object appears when complete); a file up to :data:`SMALL_FILE_BYTES` is one small request,
    bounded like a probe, a larger one a transfer judged by its progress. A folder goes up
    under a temporary sibling prefix (:func:`staging_name`: it names the writing deployment and
    the time); only when every file is there are the new files copied over the published
    folder server-side (each object is replaced whole), then the published files the new
    folder does not have are deleted, then the temporary prefix. A failed upload leaves the
    published folder as it was, and the published folder is never empty: during the copy
    readers can see old and new files side by side, never no files.
    """
    fs, target = filesystem(location)
    if source.is_file() and source.stat().st_size <= SMALL_FILE_BYTES:
        bounded_call("upload", location, lambda: fs.put_file(str(source), target))
        return
    if source.is_file():
        bounded_transfer(
            "upload",
            location,
            lambda progress: _transfer(
                fs,
                progress,
                "put_file",
                str(source),
                target,
                callback=ProgressCallback(progress),
                chunksize=PART_BYTES,
            ),
        )
        return
    parent, name = posixpath.split(target)
    staging = posixpath.join(parent, staging_name(name))
    relative = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
    try:
        _in_batches(
            "upload",
            location,
            relative,
            lambda batch, progress: _transfer(
                fs,
                progress,
                "put",
                [str(source / item) for item in batch],
                [posixpath.join(staging, item) for item in batch],
                callback=ProgressCallback(progress),
                chunksize=PART_BYTES,
            ),
        )
        old = _files_under(fs, target, location)
        _in_batches(
            "copy into place",
            location,
            relative,
            lambda batch, progress: _transfer(
                fs,
                progress,
                "copy",
                [posixpath.join(staging, item) for item in batch],
                [posixpath.join(target, item) for item in batch],
            ),
        )
        _in_batches(
            "delete stale files",
            location,
            sorted(set(old) - set(relative)),
            lambda batch, progress: _transfer(
                fs, progress, "rm", [posixpath.join(target, item) for item in batch]
            ),
        )
    except StorageUnavailableError:
        # The endpoint does not answer: do not wait for it once more to delete the staging
        # prefix (readers ignore it; see docs/reliability.md, "Not covered here").
        raise
    except BaseException:
        _remove_path(fs, staging, location, "delete staging")
        raise
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
        bounded_transfer(
            "download",
            location,
            lambda progress: _transfer(
                fs,
                progress,
                "get_file",
                path,
                str(destination),
                callback=ProgressCallback(progress),
            ),
        )
        return destination
    destination.mkdir(parents=True, exist_ok=True)
    files = _files_under(fs, path, location)
    for item in files:
        (destination / item).parent.mkdir(parents=True, exist_ok=True)
    _in_batches(
        "download",
        location,
        files,
        lambda batch, progress: _transfer(
            fs,
            progress,
            "get",
            [posixpath.join(path, item) for item in batch],
            [str(destination / item) for item in batch],
            callback=ProgressCallback(progress),
        ),
    )
    return destination
