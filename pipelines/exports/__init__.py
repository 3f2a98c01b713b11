"""Report exports as files: typed columns and rows in, CSV bytes or an XLSX workbook out, the
two matching row for row (`cell_text` is the text of a cell in both). CSV is encoded per batch
and streamed by the caller; XLSX is written with bounded memory to a file the caller streams."""

from pipelines.exports._cells import (
    MONEY_EXPONENT,
    Cell,
    Column,
    Kind,
    Row,
    cell_text,
    money_text,
    utc_naive,
)
from pipelines.exports._csv import BOM, csv_header, csv_rows
from pipelines.exports._xlsx import XlsxSheet

__all__ = [
    "BOM",
    "MONEY_EXPONENT",
    "Cell",
    "Column",
    "Kind",
    "Row",
    "XlsxSheet",
    "cell_text",
    "csv_header",
    "csv_rows",
    "money_text",
    "utc_naive",
]
