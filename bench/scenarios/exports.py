"""`exports`: the XLSX and CSV export of 50,000 invoice lines, measured for time and memory.

Each export runs in a fresh child process that imports the exporter, notes its resident set
(the baseline), then writes the lines as the report endpoint does (batches of 2,000 rows from a
generator: the rows are never held together) and reports its peak resident set
(`ru_maxrss`) and the wall time. The same export of 5,000 lines is the baseline: bounded
memory means the 50,000-line growth stays about the 5,000-line growth, not ten times it.
Checks: the XLSX opens with openpyxl and matches the CSV row for row (every cell's text).

What it does not measure: the database cursor and the HTTP streaming around the writers (the
integration test `tests/integration/billing/test_reports.py` covers that path on 320 lines).
"""

from __future__ import annotations

import asyncio
import csv
import io
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from typing import Any

from bench.runner import Options
from bench.schema import Goal, Result

BATCH = 2000


def _columns() -> list[Any]:
    from pipelines.exports import Column, Kind

    m = Kind.MONEY
    return [
        Column("number"), Column("issued_on", Kind.DATE), Column("status"), Column("kind"),
        Column("patient"), Column("service"), Column("service_code"), Column("specialist"),
        Column("description"), Column("quantity", Kind.INTEGER), Column("unit_price", m),
        Column("tax_rate_percent", Kind.PERCENT), Column("net", m), Column("tax", m),
        Column("gross", m), Column("currency"),
    ]  # fmt: skip


def _lines(count: int) -> Iterator[list[tuple[Any, ...]]]:
    """`count` invoice lines in batches, made on the fly like a cursor's."""
    start = date(2026, 1, 1)
    batch: list[tuple[Any, ...]] = []
    for n in range(count):
        qty, unit, bp = 1 + n % 7, 3333 + (n * 37) % 10000, (0, 900, 1900, 2100)[n % 4]
        net = qty * unit
        tax = (net * bp + 5000) // 10000
        batch.append((
            f"2026-{n // 8 + 1:06d}", start + timedelta(days=n % 365), "paid", "invoice",
            f"Patient {n % 997}, Name", "Physiotherapy session", "PT-01", f"Dr {n % 13}",
            f"Session {n}", qty, unit, bp, net, tax, net + tax, "EUR",
        ))  # fmt: skip
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


def _export(kind: str, count: int, path: str) -> dict[str, float]:
    """In the child: baseline RSS, the export, peak RSS and time."""
    from pipelines.exports import XlsxSheet, csv_header, csv_rows

    columns = _columns()
    baseline = _peak_kb()
    started = time.perf_counter()
    if kind == "xlsx":
        with XlsxSheet(path, "Invoice lines", columns) as sheet:
            for batch in _lines(count):
                sheet.add(batch)
    else:
        with open(path, "wb") as out:
            out.write(csv_header(columns))
            for batch in _lines(count):
                out.write(csv_rows(columns, batch))
    seconds = time.perf_counter() - started
    peak = _peak_kb()
    return {
        "seconds": seconds,
        "baseline_mb": baseline / 1024,
        "peak_mb": peak / 1024,
        "growth_mb": (peak - baseline) / 1024,
        "bytes": float(os.path.getsize(path)),
    }


def _matches(xlsx_path: str, csv_path: str) -> tuple[bool, int]:
    """The workbook's cells, as text, equal the CSV's, row for row; and the row count."""
    import openpyxl

    from pipelines.exports import BOM, Kind

    kinds = [c.kind for c in _columns()]
    with open(csv_path, "rb") as file:
        text = file.read()[len(BOM) :].decode()
    reader = csv.reader(io.StringIO(text))
    book = openpyxl.load_workbook(xlsx_path, read_only=True)
    rows = 0
    same = True
    for got, want in zip(book.worksheets[0].iter_rows(values_only=True), reader, strict=True):
        cells = []
        for kind, value in zip(kinds, got, strict=True):
            if value is None:
                cells.append("")
            elif rows and kind in (Kind.MONEY, Kind.PERCENT):
                cells.append(f"{value:.2f}")
            elif rows and kind is Kind.DATE:
                cells.append(value.date().isoformat())
            else:
                cells.append(str(value))
        same = same and cells == want
        rows += 1
    book.close()
    return same, rows


async def _in_child(kind: str, count: int, path: str) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, _export, kind, count, path)


async def run(opts: Options) -> Result:
    lines = int(opts.pick(None, 50_000, 10_000))
    small = lines // 10
    with tempfile.TemporaryDirectory() as tmp:
        paths = {k: os.path.join(tmp, f"lines.{k}") for k in ("xlsx", "csv", "small.xlsx")}
        xlsx = await _in_child("xlsx", lines, paths["xlsx"])
        plain = await _in_child("csv", lines, paths["csv"])
        base = await _in_child("xlsx", small, paths["small.xlsx"])
        same, rows = await asyncio.to_thread(_matches, paths["xlsx"], paths["csv"])
    figures = {
        "xlsx_seconds": xlsx["seconds"],
        "xlsx_peak_rss_mb": xlsx["peak_mb"],
        "xlsx_rss_growth_mb": xlsx["growth_mb"],
        "xlsx_mb": xlsx["bytes"] / 2**20,
        "xlsx_lines_per_s": lines / xlsx["seconds"],
        "csv_seconds": plain["seconds"],
        "csv_peak_rss_mb": plain["peak_mb"],
        "csv_rss_growth_mb": plain["growth_mb"],
        "csv_mb": plain["bytes"] / 2**20,
    }
    baseline = {
        "xlsx_seconds": base["seconds"],
        "xlsx_peak_rss_mb": base["peak_mb"],
        "xlsx_rss_growth_mb": base["growth_mb"],
    }
    return Result(
        scenario="exports",
        parameters={"lines": lines, "baseline_lines": small, "batch": BATCH, "columns": 16},
        figures=figures,
        baseline_name=f"the same XLSX export of {small} lines (bounded memory: growth about equal)",
        baseline=baseline,
        ratios={k: figures[k] / baseline[k] for k in baseline if baseline[k]},
        goals=[
            Goal("xlsx_rss_growth_mb", "<=", 64, "MB"),
            Goal("xlsx_seconds", "<=", 60, "s"),
        ],
        checks={
            "xlsx_opens_with_openpyxl_and_matches_csv_row_for_row": same and rows == lines + 1,
            "memory_bounded_10x_lines_under_2x_growth": xlsx["growth_mb"]
            <= 2 * max(base["growth_mb"], 8.0),
        },
    )
