"""What a file is, from its bytes: the allowed kinds, their magic numbers and the extensions a
name of each kind may have. The name and a client's declared type are never trusted."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from storage.errors import Invalid

MAX_FILENAME = 255


@dataclass(frozen=True, slots=True)
class Kind:
    content_type: str
    label: str
    extensions: frozenset[str]


PDF = Kind("application/pdf", "a PDF document", frozenset({"pdf"}))
PNG = Kind("image/png", "a PNG image", frozenset({"png"}))
JPEG = Kind("image/jpeg", "a JPEG image", frozenset({"jpg", "jpeg"}))
WEBP = Kind("image/webp", "a WebP image", frozenset({"webp"}))
# A phone's photo: HEIF with HEVC-coded images (HEIC), or another HEIF brand. Either name works
# for either, as phones and converters use both.
HEIC = Kind("image/heic", "a HEIC image", frozenset({"heic", "heif"}))
HEIF = Kind("image/heif", "a HEIF image", frozenset({"heic", "heif"}))
KINDS = (PDF, PNG, JPEG, WEBP, HEIC, HEIF)
ALLOWED_TYPES = tuple(k.content_type for k in KINDS)
ALLOWED_EXTENSIONS = tuple(sorted({e for k in KINDS for e in k.extensions}))

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})


def sniff(data: bytes) -> Kind | None:
    """The kind the bytes are, by their leading magic number; None when none allowed."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[4:8] == b"ftyp":  # an ISO media file; its major brand says which
        brand = data[8:12]
        if brand in _HEIC_BRANDS:
            return HEIC
        if brand in _HEIF_BRANDS:
            return HEIF
    return None


def checked_filename(filename: str) -> str:
    """The name as shown on download: a plain file name (no directories, no control characters),
    at most MAX_FILENAME characters; Invalid otherwise."""
    name = unicodedata.normalize("NFC", filename.strip())
    if not name:
        raise Invalid({"filename": "must not be empty"})
    if len(name) > MAX_FILENAME:
        raise Invalid({"filename": f"must be at most {MAX_FILENAME} characters"})
    if "/" in name or "\\" in name or name in (".", ".."):
        raise Invalid({"filename": "must be a file name, without directories"})
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise Invalid({"filename": "must not contain control characters"})
    return name


def checked_kind(data: bytes, filename: str) -> Kind:
    """The kind of the bytes, which must be allowed and agree with the name's extension;
    Invalid (with what the bytes are) otherwise."""
    if not data:
        raise Invalid({"file": "must not be empty"})
    kind = sniff(data)
    if kind is None:
        raise Invalid(
            {"file": "is not an allowed kind of file (PDF, PNG, JPEG, WebP or HEIC)"},
            "the file's content is not an allowed kind",
        )
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if extension not in kind.extensions:
        said = f".{extension}" if extension else "no extension"
        raise Invalid(
            {"filename": f"the content is {kind.label}, but the name says {said}"},
            "the file's content does not match its name",
        )
    return kind
