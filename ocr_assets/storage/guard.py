"""The loss guard: a roll-up may not silently replace a published output with a much smaller one.

A roll-up over fewer regions than before (a selection typo, inputs that went missing, NaN
inputs that emptied the rasters) would otherwise publish a consolidated building file or summary
statistics that lost most of their content, and nothing would say so. The roll-up counts what it
is about to publish, compares with what is published, and :func:`check_shrink` refuses a loss
over the allowed share (``OCR_MAX_OUTPUT_LOSS``, default half) unless forced (``OCR_FORCE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow.compute as pc
import pyarrow.parquet as pq

from ocr_assets.storage import objects
from ocr_assets.storage.errors import StorageError


class OutputLossError(StorageError):
    """A new output would lose more than the allowed share of the published one."""


def check_shrink(
    location: str,
    old: int | None,
    new: int,
    max_loss_share: float,
    force: bool,
    what: str = "rows",
) -> None:
    """Refuse to replace ``location`` (holding ``old`` ``what``) with one holding ``new``.

    Nothing published (``old`` is ``None`` or 0), a loss within ``max_loss_share`` of ``old``,
    or ``force`` pass.

    Raises:
        OutputLossError: giving both counts, the share lost and how to force it.
    """
    if not old or force or new >= old:
        return
    lost = (old - new) / old
    if lost > max_loss_share:
        raise OutputLossError(
            f"refusing to replace {location}: it holds {old} {what}, the new output {new} "
            f"({lost:.0%} fewer, more than the allowed {max_loss_share:.0%}); check the region "
            "selection and inputs, or set OCR_FORCE=true (or raise OCR_MAX_OUTPUT_LOSS) to "
            "replace it anyway"
        )


@dataclass(frozen=True)
class LossGuard:
    """When a roll-up may replace a published output with a much smaller one.

    Attributes:
        max_loss_share: Largest share of the published content (e.g. buildings) a new output
            may lose (``OCR_MAX_OUTPUT_LOSS``; 1 switches the guard off).
        force: Replace anyway (``OCR_FORCE``).
    """

    max_loss_share: float = 0.5
    force: bool = False

    def check(self, location: str, old: int | None, new: int, what: str = "rows") -> None:
        """Refuse to replace ``location`` (``old`` ``what``) by one with ``new``; see
        :func:`check_shrink`."""
        check_shrink(location, old, new, self.max_loss_share, self.force, what)


def _parquet_metadata(location: str) -> pq.FileMetaData:
    fs, path = objects.filesystem(location)

    def read() -> pq.FileMetaData:
        with fs.open(path, "rb") as handle:
            return pq.read_metadata(handle)

    try:
        return objects.bounded_call("read Parquet footer", location, read)
    except (OSError, ValueError) as error:  # ArrowInvalid is a ValueError
        raise StorageError(f"{location}: not a readable Parquet file: {error}") from error


def parquet_rows(location: str) -> int:
    """Rows of the Parquet file at ``location``, from its footer.

    Raises:
        StorageError: naming the file when it is missing or not Parquet (e.g. truncated).
    """
    return int(_parquet_metadata(location).num_rows)


def published_rows(location: str) -> int | None:
    """Rows of the published Parquet file at ``location`` (``None`` when nothing is there)."""
    return parquet_rows(location) if objects.exists(location) else None


def published_sum(locations: Sequence[str], column: str) -> int | None:
    """Sum of the integer ``column`` over the published Parquet files ``locations``.

    ``None`` when any of them is missing (nothing complete is published).

    Raises:
        StorageError: naming the file and the column when the column is missing.
    """
    if not all(objects.exists(location) for location in locations):
        return None
    return sum(_column_sum(location, column) for location in locations)


def _column_sum(location: str, column: str) -> int:
    fs, path = objects.filesystem(location)

    def read() -> int:
        with fs.open(path, "rb") as handle:
            parquet = pq.ParquetFile(handle)
            if column not in parquet.schema_arrow.names:
                raise StorageError(f"{location}: column {column!r} missing")
            values = parquet.read(columns=[column]).column(column)
            return int(pc.sum(values).as_py() or 0)

    return objects.bounded_call("read published output", location, read)
