"""Pure report aggregates fed by storage/reports: ageing buckets of outstanding balances."""

from pipelines.reports._ageing import BUCKETS, Bucket, Outstanding, ageing, bucket_of

__all__ = ["BUCKETS", "Bucket", "Outstanding", "ageing", "bucket_of"]
