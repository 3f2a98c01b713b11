"""The bytes and the name of an uploaded file: a raw body with `?filename=`, or a browser form's
multipart/form-data body with one file part. Bounded: a body past the limit is refused with 413
as soon as it is seen to be too large, never held whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import BodyPartReader, web

from server.errors import ApiError, validation_failed

MULTIPART = "multipart/form-data"
_CHUNK = 64 * 1024
# A form's boundaries and part headers around the file.
_OVERHEAD = 16 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    data: bytes
    filename: str


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, "payload_too_large", f"the file is larger than {limit} bytes", {"max_bytes": limit}
    )


async def read_upload(request: web.Request, limit: int) -> Upload:
    """The file of the request; 413 past `limit` bytes, 422 for a body without exactly one
    file or without a name."""
    if request.content_length is not None and request.content_length > limit + _OVERHEAD:
        raise too_large(limit)
    if request.content_type == MULTIPART:
        data, filename = await _form_file(request, limit)
    else:
        data, filename = await _bounded(request.content.iter_chunked(_CHUNK), limit), ""
        filename = request.query.get("filename", "")
    if not filename:
        raise validation_failed({"filename": "is required"})
    return Upload(data, filename)


async def _bounded(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            raise too_large(limit)
    return bytes(buffer)


async def _form_file(request: web.Request, limit: int) -> tuple[bytes, str]:
    """The one file part of a multipart/form-data body (RFC 7578, aiohttp's streaming reader)
    and its file name; other (non-file) fields are skipped."""
    try:
        reader = await request.multipart()
        files: list[tuple[bytes, str]] = []
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.filename is None:
                await part.release()
                continue
            if files:
                raise validation_failed({"file": "the form must carry exactly one file"})
            files.append((await _bounded(_chunks(part), limit), part.filename))
    except (ValueError, AssertionError) as exc:  # a malformed body, as aiohttp reports it
        raise validation_failed({"file": f"the multipart body cannot be read: {exc}"}) from None
    if not files:
        raise validation_failed({"file": "the form must carry exactly one file"})
    return files[0]


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(_CHUNK):
        yield chunk
