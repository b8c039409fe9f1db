"""The storage layer's errors: a location that cannot be used, and a store that did not answer."""

from __future__ import annotations


class StorageError(RuntimeError):
    """An output location cannot be used; the message names the location and the reason."""


class StorageUnavailableError(StorageError):
    """The object store did not answer, or kept failing transiently, within the allowed budget.

    Unlike other :class:`StorageError` s this is transient: a later attempt (the step's retry
    policy, a re-run after the endpoint recovers) can succeed.
    """
