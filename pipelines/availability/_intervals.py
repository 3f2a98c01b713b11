"""Sets of instants as sorted lists of disjoint half-open ``(lo, hi)`` spans of integer seconds."""

from __future__ import annotations

from collections.abc import Iterable

Span = tuple[int, int]


def normalize(spans: Iterable[Span]) -> list[Span]:
    """Sort, drop empty spans and merge overlapping or touching ones."""
    out: list[Span] = []
    for lo, hi in sorted(spans):
        if hi <= lo:
            continue
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def intersect(a: list[Span], b: list[Span]) -> list[Span]:
    """Pairwise overlaps of two sorted disjoint lists.

    Each output span comes from one span of ``a`` and one of ``b``; spans of ``a`` that touch stay
    apart in the output (working intervals of two dates are not merged).
    """
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: list[Span], b: list[Span]) -> list[Span]:
    """``a`` minus ``b``, both sorted and disjoint."""
    out: list[Span] = []
    j = 0
    for lo, hi in a:
        while j < len(b) and b[j][1] <= lo:
            j += 1
        k = j
        while k < len(b) and b[k][0] < hi:
            if b[k][0] > lo:
                out.append((lo, b[k][0]))
            lo = max(lo, b[k][1])
            k += 1
        if lo < hi:
            out.append((lo, hi))
    return out
