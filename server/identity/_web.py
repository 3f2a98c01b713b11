"""The identity handlers' names for the web kit (server/web/): ids and instants from the query,
and lists paged by (created_at, id) with their cursor decoded."""

from __future__ import annotations

from server.web.paging import InstantId, page_response
from server.web.paging import Page as _Page
from server.web.paging import instant_id_page as page_of
from server.web.params import query_instant, query_uuid

# Identity lists sort by (created_at, id): a page's `after` is that pair, ready for SQL.
Page = _Page[InstantId]

__all__ = ["Page", "page_of", "page_response", "query_instant", "query_uuid"]
