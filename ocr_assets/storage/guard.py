"""The loss guard: a roll-up may not silently replace a published output with a smaller one.

Two checks, each overridden by ``OCR_FORCE``:

- **Regions.** Every published roll-up records the regions it was built from
  (:attr:`~ocr_assets.storage.Layout.rollup_record`). :meth:`LossGuard.check_regions` refuses to
  build it again from a set that lacks any of them (regions gone from the raster store, a
  store rebuilt from a selection), naming the missing regions, before any work is done.
- **Content.** A roll-up over the same regions can still lose content (NaN inputs that emptied
  the rasters, a buildings file that lost rows): the roll-up counts what it is about to publish,
  compares with what is published, and :func:`check_shrink` refuses a loss over the allowed
  share (``OCR_MAX_OUTPUT_LOSS``, default half).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow.compute as pc
import pyarrow.parquet as pq

from ocr_assets.storage import objects
from ocr_assets.storage.atomic import write_json
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

    def check_regions(self, asset: str, record: str, regions: Sequence[str]) -> None:
        """Refuse to build ``asset`` from ``regions`` when they lack any region it was last
        published from (read from ``record``; nothing recorded passes).

        Raises:
            OutputLossError: naming the regions missing now, the record and how to force it.
        """
        previous = objects.read_json(record)
        if self.force or not previous:
            return
        missing = [region_id for region_id in previous["regions"] if region_id not in regions]
        if missing:
            raise OutputLossError(
                f"refusing to build {asset} from {len(regions)} region(s): it was published "
                f"from {len(previous['regions'])} (run {previous.get('run_id')}, "
                f"{previous.get('published_at')}; {record}) and {len(missing)} of them are not "
                f"in the raster store now ({', '.join(missing)}); materialize those regions "
                "first (the regions job), or set OCR_FORCE=true to publish it from these "
                "regions anyway"
            )


def record_regions(record: str, regions: Sequence[str], run_id: str) -> None:
    """Record that a roll-up was just published from ``regions`` by the run ``run_id``."""
    write_json(
        record,
        {
            "regions": list(regions),
            "run_id": run_id,
            "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )


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
