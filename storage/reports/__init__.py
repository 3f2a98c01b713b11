"""Money and telerehab reports for the owner and admins: typed columns and rows in batches from
server-side cursors, handed to pipelines/exports to become CSV or XLSX. The owner's reports
carry no patient names."""

from storage.reports._reports import (
    BATCH,
    MAX_DAYS,
    GroupBy,
    Query,
    Report,
    ReportKind,
    report,
)

__all__ = ["BATCH", "MAX_DAYS", "GroupBy", "Query", "Report", "ReportKind", "report"]
