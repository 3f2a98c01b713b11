"""Object storage: one `BlobStore` contract and two stores. Keys name the content
("sha256/<hex>"), so the same document is stored once and a key never changes meaning.

- `LocalBlobStore`: files under one directory, downloaded through the server's own route with
  signed, expiring tokens (`LinkSigner`); the default of `make run` and the tests.
- `S3BlobStore`: S3 or an S3-compatible server (MinIO) through aioboto3, presigned GET links and
  presigned PUTs for direct browser uploads.

A store that cannot be reached raises `storage.errors.Unavailable`; one that cannot be used at
all fails `start()` with `BlobStoreConfigError`.
"""

from storage.blobs._contract import (
    BlobStore,
    BlobStoreConfigError,
    Link,
    StoredBlob,
    content_disposition,
    is_key,
    key_of,
)
from storage.blobs._local import LocalBlobStore
from storage.blobs._s3 import S3BlobStore, S3Config
from storage.blobs._signing import BadLink, ExpiredLink, LinkClaims, LinkSigner

__all__ = [
    "BadLink",
    "BlobStore",
    "BlobStoreConfigError",
    "ExpiredLink",
    "Link",
    "LinkClaims",
    "LinkSigner",
    "LocalBlobStore",
    "S3BlobStore",
    "S3Config",
    "StoredBlob",
    "content_disposition",
    "is_key",
    "key_of",
]
