"""The notification options of a server, from its settings: the channels' endpoints."""

from __future__ import annotations

from actors.notifications import NotificationOptions, SmsOptions, SmtpOptions
from actors.notifications.channels import DEFAULT_SENDER
from server.settings import Settings

_STARTTLS = {"auto": None, "on": True, "off": False}


def options_for(settings: Settings) -> NotificationOptions:
    smtp = None
    if settings.smtp_host:
        smtp = SmtpOptions(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from or DEFAULT_SENDER,
            starttls=_STARTTLS[settings.smtp_starttls],
            use_tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
        )
    sms = SmsOptions(url=settings.sms_url, token=settings.sms_token) if settings.sms_url else None
    return NotificationOptions(smtp=smtp, sms=sms, mail_dir=settings.mail_dir)
