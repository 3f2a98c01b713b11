"""Metrics of the notification pumps (exported through the default registry)."""

from prometheus_client import Counter, Gauge

OUTBOX_DUE = Gauge("cadence_notifications_outbox_due", "Outbox messages due and not yet delivered")
SENT = Counter("cadence_notifications_sent_total", "Messages delivered", ["channel"])
FAILED = Counter(
    "cadence_notifications_failed_total", "Message deliveries that failed (per try)", ["channel"]
)
OUTCOMES = Counter(
    "cadence_notifications_outcomes_total",
    "Outbox rows finished or deferred, by outcome (sent, failed, skipped, retry, deferred)",
    ["outcome"],
)
REMINDERS_DUE = Gauge("cadence_reminders_due", "Planned reminders whose time has come")
REMINDERS_SENT = Counter("cadence_reminders_sent_total", "Reminders turned into outbox messages")
REMINDERS_SKIPPED = Counter(
    "cadence_reminders_skipped_total", "Due reminders dropped (appointment changed or gone)"
)
