"""The document renderer: PDFs (WeasyPrint) from the pure HTML of pipelines/documents, in a small
pool of low-priority worker processes so the event loop never waits on one. The same document
gives byte-identical PDFs (see `_worker`), so its content-addressed blob is stored once."""

from actors.documents._renderer import RenderedPdf, Renderer, RendererBusy, RendererOptions

__all__ = ["RenderedPdf", "Renderer", "RendererBusy", "RendererOptions"]
