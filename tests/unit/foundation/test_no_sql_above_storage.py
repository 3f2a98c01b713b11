"""SQL lives in `storage/` (and `migrations/`): the server and the actors hold no SQL string.

Every string literal of `server/` and `actors/` (docstrings aside: prose may name a statement) is
matched against the shapes of SQL statements (keywords in capitals, as this codebase writes
them, so that prose such as "select a slot from the list" is not taken for a query)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b|\bCOPY\b[\s\S]*\bFROM\b"
    r"|(?i:\binsert\s+into\b|\bset_config\s*\(|\bon\s+conflict\b|\bdelete\s+from\b)"
)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _sql_literals(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                v.value
                for v in node.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
            if SQL.search(text):
                yield node.lineno, text
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docs and SQL.search(node.value):
                yield node.lineno, node.value


def test_the_pattern_sees_sql() -> None:
    assert SQL.search("SELECT id FROM patients WHERE x = $1")
    assert SQL.search("UPDATE appointments SET status = $2")
    assert not SQL.search("select a slot from the list below")  # prose: no identifier shape


def test_no_sql_string_in_server_or_actors() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text.strip()[:60]!r}"
        for package in ("server", "actors")
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, text in _sql_literals(path)
    ]
    assert found == []
