"""Notifications out: the outbox dispatcher and the reminder pump (the runner of
actors/consumers drives both), the channels behind one `Sender` interface, and the templates.

Wiring (the server): `pumps(options)` gives the two pump factories."""

from __future__ import annotations

from actors.consumers import Context, PumpFactory
from actors.notifications.channels import (
    ChannelError,
    FileEmail,
    HttpSms,
    InApp,
    Message,
    Sender,
    SmsOptions,
    SmtpEmail,
    SmtpOptions,
)
from actors.notifications.options import NotificationOptions
from actors.notifications.outbox_pump import OutboxPump
from actors.notifications.reminder_pump import ReminderPump
from actors.notifications.templates import KINDS, PLACEHOLDERS, unknown_placeholders


def pumps(options: NotificationOptions) -> list[PumpFactory]:
    def outbox(ctx: Context) -> OutboxPump:
        return OutboxPump(ctx, options)

    def reminders(ctx: Context) -> ReminderPump:
        return ReminderPump(ctx, batch=options.batch * 4)

    return [outbox, reminders]


__all__ = [
    "KINDS",
    "PLACEHOLDERS",
    "ChannelError",
    "FileEmail",
    "HttpSms",
    "InApp",
    "Message",
    "NotificationOptions",
    "OutboxPump",
    "ReminderPump",
    "Sender",
    "SmsOptions",
    "SmtpEmail",
    "SmtpOptions",
    "pumps",
    "unknown_placeholders",
]
