"""Outstanding balances by age (pure): how long past its due date each unpaid balance is, in the
buckets accountants use, summed per currency in integer minor units."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    min_days: int  # days past due, inclusive
    max_days: int | None  # inclusive; None = no upper bound


# "current" is not yet due (or due today); then 30-day bands; 90+ is the collections pile.
BUCKETS: tuple[Bucket, ...] = (
    Bucket("current", -(10**6), 0),
    Bucket("1-30", 1, 30),
    Bucket("31-60", 31, 60),
    Bucket("61-90", 61, 90),
    Bucket("90+", 91, None),
)


def bucket_of(due_on: date, as_of: date) -> Bucket:
    """The bucket of a balance due on `due_on`, seen on `as_of`."""
    late = (as_of - due_on).days
    for bucket in BUCKETS:
        if late >= bucket.min_days and (bucket.max_days is None or late <= bucket.max_days):
            return bucket
    raise AssertionError("the buckets cover every day count")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Outstanding:
    """One open balance: what is still due on an invoice (total less net payments; never
    negative here: an over-paid invoice owes nothing)."""

    currency: str
    due_on: date
    balance: int


def ageing(balances: Iterable[Outstanding], as_of: date) -> list[tuple[str, str, int, int]]:
    """(currency, bucket, invoices, balance) for every currency seen and every bucket, in
    bucket order: the ageing summary (a bucket with nothing due shows 0, so the table has its
    full shape)."""
    totals: dict[str, dict[str, list[int]]] = {}
    for item in balances:
        if item.balance <= 0:
            continue
        per = totals.setdefault(item.currency, {b.name: [0, 0] for b in BUCKETS})
        cell = per[bucket_of(item.due_on, as_of).name]
        cell[0] += 1
        cell[1] += item.balance
    return [
        (currency, bucket.name, totals[currency][bucket.name][0], totals[currency][bucket.name][1])
        for currency in sorted(totals)
        for bucket in BUCKETS
    ]
