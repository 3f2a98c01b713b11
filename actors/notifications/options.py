"""How the notification pumps are set up: the channels' endpoints and the pace of delivery.

The server builds them from its settings (server/notifications/options.py: CADENCE_SMTP_*,
CADENCE_SMS_*, and, without an SMTP host, CADENCE_MAIL_DIR as the development file sink).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.notifications.channels import SmsOptions, SmtpOptions


@dataclass(frozen=True, slots=True)
class NotificationOptions:
    smtp: SmtpOptions | None = field(default=None, repr=False)
    sms: SmsOptions | None = field(default=None, repr=False)
    mail_dir: str = ""  # e-mail as files when there is no SMTP server (development)
    in_app: bool = True
    batch: int = 50  # outbox rows (or reminders) one run claims
    lease_s: float = 120.0  # a claimed row is another dispatcher's after this
    max_attempts: int = 8
    backoff_s: float = 30.0  # before the 2nd try; doubled each time up to backoff_max_s
    backoff_max_s: float = 3600.0
    idle_s: float = 1.0

    def backoff(self, attempts: int) -> float:
        return float(min(self.backoff_max_s, self.backoff_s * 2 ** max(0, attempts - 1)))
