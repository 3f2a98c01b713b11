"""What runs in a renderer process: HTML from the pure templates, then WeasyPrint.

Determinism, so the same document is stored once under its content-addressed key:
- the PDF's creation and modification dates come from the document (`dcterms.*` meta tags,
  see pipelines/documents), never from the clock;
- the PDF's file identifier is the document's digest (otherwise WeasyPrint leaves it out or
  derives it from the content, both fine, but a stable one is explicit);
- embedded font subsets carry a `head.modified` timestamp that fontTools takes from the clock
  unless SOURCE_DATE_EPOCH is set, which `init` does for the process.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from pipelines.documents import Document, build_html, digest

# 2026-01-01T00:00:00Z: any constant will do; fontTools writes it into each font subset.
FONT_EPOCH = "1767225600"


def init(niceness: int) -> None:
    """Process initializer: yield the CPU to the API (interactive requests win over a PDF),
    fix the fonts' timestamps, and load WeasyPrint once rather than on the first render."""
    os.environ["SOURCE_DATE_EPOCH"] = FONT_EPOCH
    if niceness:
        try:
            os.nice(niceness)
        except OSError:  # not permitted here: render at normal priority rather than not at all
            logging.getLogger("cadence.documents").warning("could not lower renderer priority")
    import weasyprint  # noqa: F401


def _fetcher() -> Any:
    """Documents hold everything they show (a drawn signature is a data: URL): no other URL is
    ever fetched, so a value a patient typed can never make the renderer reach the network or
    the disk."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols=("data",))


def render(document: Document) -> tuple[bytes, float]:
    """The PDF of the document, and the seconds it took in this process."""
    import weasyprint

    started = time.perf_counter()
    html = build_html(document)
    pdf = weasyprint.HTML(string=html, url_fetcher=_fetcher()).write_pdf(
        pdf_identifier=digest(document)[:32].encode("ascii")
    )
    assert pdf is not None  # write_pdf without a target returns the bytes
    return pdf, time.perf_counter() - started


def ping() -> int:
    """A no-op task: starts a worker process (and its initializer) ahead of the first render."""
    return os.getpid()
