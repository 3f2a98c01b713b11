"""Structured JSON logs that never carry secrets or patient data.

Handlers log ids and codes, not payloads. As a second wall, any `extra` field whose name looks
sensitive is replaced before the record is written.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

SENSITIVE = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "password",
        "secret",
        "email",
        "phone",
        "name",
        "first_name",
        "last_name",
        "date_of_birth",
        "contact",
        "hold_token",
        "note",
    }
)
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            out[key] = "[redacted]" if key.lower() in SENSITIVE else value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log prints the query string, which may hold `access_token`; we log
    # requests ourselves in the request middleware instead.
    logging.getLogger("aiohttp.access").disabled = True
