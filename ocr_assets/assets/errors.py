"""Turning bad input into final, clearly worded failures.

A missing input file, a region without data, a malformed grid or an unwritable storage root will
fail again on every retry; reporting them as ``dagster.Failure(allow_retries=False)`` skips the
pointless retries and shows the message (which names the culprit) at the top of the run.
Anything else, e.g. a raster-store commit conflict, propagates unchanged and is retried.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from ocr_assets.storage import StorageError

BAD_INPUT_ERRORS: tuple[type[Exception], ...] = (FileNotFoundError, ValueError, StorageError)


@contextmanager
def final_on_bad_input() -> Iterator[None]:
    """Re-raise :data:`BAD_INPUT_ERRORS` as a non-retryable :class:`dagster.Failure`."""
    try:
        yield
    except BAD_INPUT_ERRORS as error:
        raise dg.Failure(
            description=f"{type(error).__name__}: {error}",
            allow_retries=False,
        ) from error
