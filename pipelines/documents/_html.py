"""Documents as HTML, from the versioned Jinja2 templates of this package
(`templates/<version>/<kind>.html`, each extending its version's `base.html`: the letterhead,
the footer and page numbers).

Autoescaping is on: every value is text a clinic or a patient typed. The only markup inserted
as such is the chart this package draws itself.
"""

from __future__ import annotations

import base64
from datetime import datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from pipelines.documents._chart import rom_chart
from pipelines.documents._model import Document, SessionReport, SignedForm


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipelines.documents", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,  # a misspelt name fails the render, never prints nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["minutes"] = _minutes
    env.filters["degrees"] = _degrees
    return env


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _minutes(seconds: int) -> str:
    minutes, rest = divmod(max(0, int(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _degrees(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}°"


def _instant(zone: tzinfo) -> object:
    def fmt(at: datetime | None, with_time: bool = True) -> str:
        if at is None:
            return ""
        local = at.astimezone(zone)
        day = f"{local.day} {local:%b %Y}"
        return f"{day}, {local:%H:%M}" if with_time else day

    return fmt


def _w3c(at: datetime) -> str:
    """An instant as the W3C date WeasyPrint reads from `dcterms.*` meta tags, in UTC."""
    return at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_html(document: Document) -> str:
    """The document's HTML. Its `dcterms.created` and `dcterms.modified` (the PDF's creation
    and modification dates) are the content's own instant, never the time of rendering."""
    body = document.body
    zone = _zone(document.timezone)
    extra: dict[str, object] = {}
    if isinstance(body, SessionReport):
        extra["chart"] = Markup(rom_chart(body.rom, zone))  # noqa: S704 - our own SVG, escaped inside
    if isinstance(body, SignedForm) and body.signature.image_png is not None:
        encoded = base64.b64encode(body.signature.image_png).decode("ascii")
        extra["signature_src"] = f"data:image/png;base64,{encoded}"
    template = _environment().get_template(f"{document.template_version}/{body.KIND.value}.html")
    return template.render(
        doc=body,
        title=body.TITLE,
        letterhead=document.letterhead,
        instant=_instant(zone),
        timezone=document.timezone,
        dated=_w3c(body.as_of),
        **extra,
    )
