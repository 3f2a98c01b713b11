"""Keyset paging: the rows after the last one of the previous page, in (sort key, id) order.

The condition is a row-value comparison, `(key, id) > (last key, last id)`: the builder has no
tuple comparison, and spelling it out as `key > k OR (key = k AND id > i)` would keep Postgres
from walking the (key, id) indexes these lists are served by.
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column
from piccolo.querystring import QueryString


def after(key: Column | QueryString, id_column: Column, last: tuple[Any, Any]) -> QueryString:
    """Rows after `last` in ascending (key, id) order."""
    return QueryString("({}, {}) > ({}, {})", key, id_column, *last)


def before(key: Column | QueryString, id_column: Column, last: tuple[Any, Any]) -> QueryString:
    """Rows after `last` in descending (key, id) order (newest-first lists)."""
    return QueryString("({}, {}) < ({}, {})", key, id_column, *last)
