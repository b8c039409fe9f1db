"""Turning bad input into final, clearly worded failures; leaving transient faults retryable.

A missing input file, a region without data, a malformed grid, a damaged Parquet file or an
unwritable storage root will fail again on every retry; reporting them as
``dagster.Failure(allow_retries=False)`` skips the pointless retries and shows the message
(which names the culprit: file, column, location) at the top of the run. Transient faults (an
object store that did not answer in time: :class:`~ocr_assets.storage.StorageUnavailableError`,
network errors, a raster-store commit conflict) propagate unchanged, so the step's retry policy
tries again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from ocr_assets.storage import StorageError, StorageUnavailableError

BAD_INPUT_ERRORS: tuple[type[Exception], ...] = (FileNotFoundError, ValueError, StorageError)

#: Errors that a later attempt can fix, although they are :data:`BAD_INPUT_ERRORS` subclasses.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (StorageUnavailableError,)


@contextmanager
def final_on_bad_input() -> Iterator[None]:
    """Re-raise :data:`BAD_INPUT_ERRORS` (not :data:`TRANSIENT_ERRORS`) as a final failure."""
    try:
        yield
    except TRANSIENT_ERRORS:
        raise
    except BAD_INPUT_ERRORS as error:
        raise dg.Failure(
            description=f"{type(error).__name__}: {error}",
            allow_retries=False,
        ) from error
