"""The deployment lease: one deployment of an environment (and version) writes at a time.

A lease is one small JSON document at a fixed place of the environment's outputs
(:attr:`~ocr_assets.storage.Layout.lease`), naming its holder: owner (``user@host``), process,
Dagster run, environment, version, when it was taken, its last heartbeat and its expiry. It is
created with a conditional write that only one of two writers can win:

- locally, the complete document is written to a temporary file and hard-linked to the lease's
  name (``link`` fails when the name exists, like ``O_CREAT|O_EXCL``, and the lease is never
  seen half written);
- on S3, ``PutObject`` with ``If-None-Match: *``.

Renewing (the heartbeat), taking over an expired lease and releasing are conditional on the
version that was read: on S3 ``If-Match: <ETag>`` on the overwrite or the delete; locally the
same compare-and-swap (content hash, then an atomic ``os.replace`` or ``unlink``) under an
exclusive ``flock`` of a lock file next to the lease, so of two takers of an expired lease
exactly one wins, and a holder that lost its lease finds out at its next heartbeat.

A lease left by a killed process expires (:data:`DEFAULT_LEASE_SECONDS` after its last
heartbeat); a local lease whose process is gone from this host is taken over at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import getpass
import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import botocore.exceptions
from fsspec.asyn import sync

from ocr_assets.storage import objects
from ocr_assets.storage.atomic import leftover_name, process_alive
from ocr_assets.storage.errors import StorageError
from ocr_assets.storage.layout import is_remote, local_path

#: Seconds a lease lives after its last heartbeat.
DEFAULT_LEASE_SECONDS = 1800.0
#: Seconds between two logged lines of a deployment waiting for a lease.
WAIT_REPORT_SECONDS = 30.0

_log = logging.getLogger(__name__)


class LeaseHeldError(StorageError):
    """Another live deployment holds the lease.

    Attributes:
        holder: The lease as read.
    """

    def __init__(self, message: str, holder: LeaseRecord) -> None:
        super().__init__(message)
        self.holder = holder


class LeaseLostError(StorageError):
    """The lease was taken over (it had expired) or removed while this deployment held it."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def age_text(seconds: float) -> str:
    """``45 s``, ``3 min``, ``2 h 5 min``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@dataclass(frozen=True)
class LeaseRecord:
    """The lease document.

    Attributes:
        token: This holding's identity (a new one per acquisition).
        owner: ``user@host`` of the holding process.
        host: The holding process's host name.
        pid: The holding process.
        run_id: The Dagster run holding it.
        environment: The environment deployed.
        version: The version deployed (``None``: unversioned).
        started_at: ISO time (UTC) the lease was taken.
        heartbeat_at: ISO time of the last renewal.
        expires_at: ISO time after which another deployment may take it over.
    """

    token: str
    owner: str
    host: str
    pid: int
    run_id: str
    environment: str
    version: str | None
    started_at: str
    heartbeat_at: str
    expires_at: str

    @classmethod
    def new(cls, run_id: str, environment: str, version: str | None, seconds: float) -> LeaseRecord:
        """A fresh lease for this process, expiring in ``seconds``."""
        now = _now()
        host = socket.gethostname()
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        return cls(
            token=uuid.uuid4().hex[:12],
            owner=f"{user}@{host}",
            host=host,
            pid=os.getpid(),
            run_id=run_id,
            environment=environment,
            version=version,
            started_at=now.isoformat(),
            heartbeat_at=now.isoformat(),
            expires_at=(now + dt.timedelta(seconds=seconds)).isoformat(),
        )

    @classmethod
    def parse(cls, data: bytes, location: str) -> LeaseRecord:
        """The lease document ``data`` read at ``location``.

        Raises:
            StorageError: naming the file when it is not a lease.
        """
        try:
            fields = json.loads(data)
            return cls(**{name: fields[name] for name in cls.__dataclass_fields__})
        except (ValueError, TypeError, KeyError) as error:
            raise StorageError(
                f"{location}: not a deployment lease ({type(error).__name__}: {error}); "
                "delete it if no deployment of this environment is running"
            ) from error

    def encode(self) -> bytes:
        """The document's bytes."""
        return json.dumps(asdict(self), indent=2).encode()

    def renewed(self, seconds: float) -> LeaseRecord:
        """This lease with a heartbeat now, expiring ``seconds`` from now."""
        now = _now()
        return replace(
            self,
            heartbeat_at=now.isoformat(),
            expires_at=(now + dt.timedelta(seconds=seconds)).isoformat(),
        )

    def age(self) -> float:
        """Seconds since the lease was taken."""
        return (_now() - _time(self.started_at)).total_seconds()

    def remaining(self) -> float:
        """Seconds until the lease expires (negative: expired)."""
        return (_time(self.expires_at) - _now()).total_seconds()

    def describe(self) -> str:
        """``run 1a2b3c4d, alice@host pid 123``."""
        return f"run {self.run_id[:8]}, {self.owner} pid {self.pid}"


class _Store(Protocol):
    """Conditional operations on the lease document; ``tag`` names one version of it."""

    location: str

    def create(self, data: bytes) -> str | None: ...

    def read(self) -> tuple[bytes, str] | None: ...

    def replace(self, data: bytes, tag: str) -> str | None: ...

    def delete(self, tag: str) -> bool: ...


class _LocalStore:
    """The lease as a local file: link to create, compare-and-swap under ``flock`` otherwise."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.path = local_path(location)
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")

    @staticmethod
    def _tag(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def _write_temporary(self, data: bytes) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = leftover_name(self.path)
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return tmp

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def create(self, data: bytes) -> str | None:
        tmp = self._write_temporary(data)
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            return None
        finally:
            tmp.unlink(missing_ok=True)
        return self._tag(data)

    def read(self) -> tuple[bytes, str] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return data, self._tag(data)

    def replace(self, data: bytes, tag: str) -> str | None:
        with self._locked():
            current = self.read()
            if current is None or current[1] != tag:
                return None
            os.replace(self._write_temporary(data), self.path)
        return self._tag(data)

    def delete(self, tag: str) -> bool:
        with self._locked():
            current = self.read()
            if current is None or current[1] != tag:
                return False
            self.path.unlink()
        return True


def _condition_failed(error: BaseException, *, missing: bool = True) -> bool:
    """True when S3 refused a conditional write: the object exists, changed, or (``missing``)
    is gone."""
    if isinstance(error, FileExistsError):
        return True
    if isinstance(error, FileNotFoundError):
        return missing and "bucket" not in str(error).lower()
    cause = error.__cause__ if isinstance(error.__cause__, Exception) else error
    if isinstance(cause, botocore.exceptions.ClientError):
        code = str(cause.response.get("Error", {}).get("Code", ""))
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)
    return (
        isinstance(error, OSError) and error.errno == errno.EINVAL and "recondition" in str(error)
    )


class _S3Store:
    """The lease as an S3 object: ``If-None-Match: *`` to create, ``If-Match`` otherwise."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.fs, path = objects.filesystem(location)
        self.bucket, _, self.key = path.partition("/")

    def _call(self, operation: str, fn: Callable[[], Any]) -> Any:
        return objects.bounded_call(operation, self.location, fn)

    def create(self, data: bytes) -> str | None:
        def put() -> str | None:
            try:
                response = self.fs.call_s3(
                    "put_object", Bucket=self.bucket, Key=self.key, Body=data, IfNoneMatch="*"
                )
            except Exception as error:
                if _condition_failed(error, missing=False):
                    return None
                raise
            return str(response["ETag"])

        return self._call("create lease", put)

    def read(self) -> tuple[bytes, str] | None:
        async def get() -> tuple[bytes, str] | None:
            try:
                response = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=self.key)
            except FileNotFoundError:
                return None
            body = response["Body"]
            try:
                data = await body.read()
            finally:
                body.close()
            return data, str(response["ETag"])

        return self._call("read lease", lambda: sync(self.fs.loop, get))

    def replace(self, data: bytes, tag: str) -> str | None:
        def put() -> str | None:
            try:
                response = self.fs.call_s3(
                    "put_object", Bucket=self.bucket, Key=self.key, Body=data, IfMatch=tag
                )
            except Exception as error:
                if _condition_failed(error):
                    return None
                raise
            return str(response["ETag"])

        return self._call("renew lease", put)

    def delete(self, tag: str) -> bool:
        def delete() -> bool:
            try:
                self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.key, IfMatch=tag)
            except Exception as error:
                if _condition_failed(error):
                    return False
                raise
            return True

        return self._call("release lease", delete)


def _store(location: str) -> _Store:
    if not is_remote(location):
        return _LocalStore(location)
    if not location.startswith("s3://"):
        raise StorageError(f"{location}: a deployment lease needs a local folder or s3://")
    return _S3Store(location)


class HeldLease:
    """A lease this process holds: renew it (:meth:`start_heartbeat`), release it at the end.

    Attributes:
        location: Where the lease document is.
        record: The lease as last written.
        seconds: How long each renewal extends it.
        taken_over: Why the previous holder's lease was taken over (``None``: it was free).
    """

    def __init__(
        self,
        store: _Store,
        record: LeaseRecord,
        tag: str,
        seconds: float,
        taken_over: str | None = None,
    ) -> None:
        self._store = store
        self.location = store.location
        self.record = record
        self.seconds = seconds
        self.taken_over = taken_over
        self._tag = tag
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: str | None = None

    @property
    def token(self) -> str:
        """This holding's identity."""
        return self.record.token

    def renew(self) -> None:
        """Extend the lease by :attr:`seconds` from now.

        Raises:
            LeaseLostError: naming the lease, when another deployment took it over.
        """
        with self._lock:
            if self._lost:
                raise LeaseLostError(self._lost)
            record = self.record.renewed(self.seconds)
            tag = self._store.replace(record.encode(), self._tag)
            if tag is None:
                self._lost = (
                    f"{self.location}: the lease of run {record.run_id[:8]} was taken over or "
                    "removed by someone else (it had expired?); stop writing"
                )
                raise LeaseLostError(self._lost)
            self.record, self._tag = record, tag

    def check(self) -> None:
        """Raise :class:`LeaseLostError` when a heartbeat found the lease lost."""
        if self._lost:
            raise LeaseLostError(self._lost)

    def start_heartbeat(self, every: float, log: Any = None) -> None:
        """Renew the lease every ``every`` seconds in a daemon thread until :meth:`release`.

        A renewal that fails for the store (unreachable) is logged and tried again at the next
        beat; a lost lease is logged as an error, and :meth:`check` raises from then on.
        """
        log = log or _log

        def beat() -> None:
            while not self._stop.wait(every):
                try:
                    self.renew()
                except LeaseLostError as error:
                    log.error(str(error))
                    return
                except Exception as error:
                    log.warning(f"could not renew the lease {self.location}: {error}")

        self._thread = threading.Thread(target=beat, name="ocr-lease-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> bool:
        """Stop the heartbeat and delete the lease if it is still ours; whether it was."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._lost:
                return False
            released = self._store.delete(self._tag)
            self._lost = f"{self.location}: released"
            return released


def takeover_reason(record: LeaseRecord, location: str) -> str | None:
    """Why ``record`` may be taken over now (``None``: its holder may still be working).

    It expired; or, for a local lease, its process is gone from this host (the lease of a
    killed ``make demo``).
    """
    remaining = record.remaining()
    if remaining <= 0:
        return f"it expired {age_text(-remaining)} ago"
    same_host = not is_remote(location) and record.host == socket.gethostname()
    if same_host and not process_alive(record.pid):
        return f"its process {record.pid} on this host is gone"
    return None


def held_message(record: LeaseRecord) -> str:
    """One line naming the holder and its age."""
    return (
        f"another deployment of {record.environment!r}"
        + (f" (version {record.version})" if record.version else "")
        + f" holds the lease since {age_text(record.age())} ({record.describe()}; "
        f"expires in {age_text(record.remaining())})"
    )


def acquire(
    location: str,
    *,
    run_id: str,
    environment: str,
    version: str | None,
    seconds: float = DEFAULT_LEASE_SECONDS,
    wait: bool = False,
    poll_seconds: float = 5.0,
    log: Any = None,
) -> HeldLease:
    """Take the lease at ``location`` for the run ``run_id``.

    A free lease is created; an expired one (or a local one whose process is gone) is taken
    over, conditionally on the version read, so of two takers exactly one wins. A live lease
    raises :class:`LeaseHeldError`, or with ``wait`` is polled every ``poll_seconds`` (a line
    logged every :data:`WAIT_REPORT_SECONDS` naming the holder) until it is released or
    expires.

    Raises:
        LeaseHeldError: naming the holder, its run and its age.
        StorageError: when the lease document is unreadable.
    """
    log = log or _log
    store = _store(location)
    token = uuid.uuid4().hex[:12]
    waiting_since = time.monotonic()
    reported = -WAIT_REPORT_SECONDS
    while True:
        mine = replace(LeaseRecord.new(run_id, environment, version, seconds), token=token)
        tag = store.create(mine.encode())
        if tag is not None:
            return HeldLease(store, mine, tag, seconds)
        current = store.read()
        if current is None:
            continue  # released between the two calls
        data, tag = current
        holder = LeaseRecord.parse(data, location)
        if holder.token == mine.token:  # our create landed, then its answer was lost
            return HeldLease(store, holder, tag, seconds)
        reason = takeover_reason(holder, location)
        if reason is not None:
            new_tag = store.replace(mine.encode(), tag)
            if new_tag is not None:
                message = f"took over the lease of {holder.describe()}: {reason}"
                return HeldLease(store, mine, new_tag, seconds, taken_over=message)
            continue  # another taker won; read again
        if not wait:
            raise LeaseHeldError(f"{held_message(holder)}; lease {location}", holder)
        waited = time.monotonic() - waiting_since
        if waited - reported >= WAIT_REPORT_SECONDS:
            reported = waited
            log.info(f"waiting {age_text(waited)} so far: {held_message(holder)}")
        time.sleep(poll_seconds)
