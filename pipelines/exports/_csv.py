"""CSV rows as bytes, one row at a time, so a response streams them as they come (RFC 4180:
comma separated, CRLF, quoted where needed; UTF-8 with a byte order mark first so that
spreadsheet programs read accents right)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from pipelines.exports._cells import Column, Row, cell_text

BOM = "\ufeff".encode()


def _line(values: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue().encode()


def csv_header(columns: Sequence[Column]) -> bytes:
    return BOM + _line([c.name for c in columns])


def csv_rows(columns: Sequence[Column], rows: Iterable[Row]) -> bytes:
    """A batch of rows, encoded: one writer per batch, not per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"a row of {len(row)} cells for {len(columns)} columns")
        writer.writerow([cell_text(c, v) for c, v in zip(columns, row, strict=True)])
    return buffer.getvalue().encode()
