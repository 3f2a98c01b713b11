"""The web kit every domain of the server uses, so no domain grows its own copy: path and query
parameters and body values (`params`), `?limit=&cursor=` paging (`paging`), `Idempotency-Key`
(`idempotency`) and the database's refusals as domain errors (`db_errors`). The error envelope
is server/errors.py; JSON bodies are server/http.py; instants go through storage/rfc3339.py."""
