"""The outbox dispatcher: claims due messages with a lease, works out who gets what where,
renders, sends through the channels, and records the outcome.

Per message: the patient (contact details opened from their sealed columns), their language
(their preference, else the clinic's, else the organization's, else English), their opt-outs
(per channel; reminders and the other appointment messages separately), quiet hours (theirs,
else the clinic's, in their or the clinic's time zone: a message is held until the end, a
reminder only while that is still before the appointment; a password reset never). Each channel
that got the message is written down at once, so a retry sends only the others. Failures are
retried with exponential backoff and given up after `max_attempts`.

An automation message (`automation_message`, data `{"template": <name>, ...}`) is worded by
the clinic's template of kind `automation_message:<name>`, else its generic `automation_message`
one, else the built-in generic text. It obeys the patient's `updates` choice like the other
non-reminder messages, and quiet hours (it is never urgent). It is not gated on
`patients.consent_marketing`: a rule may send care messages too, and a clinic that sends
marketing says so in the rule (a segment condition on `consent_marketing`).

Nothing personal is logged: ids, kinds, channels and reasons only.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from actors.consumers import Context
from actors.notifications import metrics, templates
from actors.notifications.channels import (
    ChannelError,
    FileEmail,
    HttpSms,
    InApp,
    Message,
    Sender,
    SmtpEmail,
)
from actors.notifications.options import NotificationOptions
from actors.notifications.quiet import quiet_until, zone
from storage import notifications as store
from storage.crypto import CryptoError
from storage.notifications import OutboxItem, Recipient
from storage.rfc3339 import parse_instant

log = logging.getLogger("cadence.notifications")
GAUGE_EVERY_S = 5.0


def build_senders(ctx: Context, options: NotificationOptions) -> dict[str, Sender]:
    senders: dict[str, Sender] = {}
    if options.smtp is not None:
        senders["email"] = SmtpEmail(options.smtp)
    elif options.mail_dir:
        senders["email"] = FileEmail(options.mail_dir)
    if options.sms is not None:
        senders["sms"] = HttpSms(options.sms)
    if options.in_app:
        senders["in_app"] = InApp(ctx.events)
    return senders


def choose_language(who: Recipient) -> str:
    for candidate in (who.preferences.language, who.settings.default_language, who.clinic_language):
        if candidate:
            return candidate
    return templates.FALLBACK_LANGUAGE


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return parse_instant(value)
        except ValueError:
            return None
    return None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _template_kinds(item: OutboxItem) -> tuple[str, ...]:
    """The kinds of the clinic's templates that may word `item`, first found wins: an
    automation message's named one (`automation_message:<name>`), then the item's own kind
    (for an automation message: the clinic's generic one). Neither: the built-in text."""
    if item.kind == templates.AUTOMATION_KIND:
        name = item.data.get("template")
        named = templates.named_kind(name) if isinstance(name, str) else None
        if named is not None:
            return (named, item.kind)
    return (item.kind,)


def _has_secrets(item: OutboxItem) -> bool:
    return isinstance(item.data.get(store.SECRETS), dict)


class OutboxPump:
    name = "notifications.outbox"

    def __init__(
        self,
        ctx: Context,
        options: NotificationOptions,
        senders: Mapping[str, Sender] | None = None,
    ) -> None:
        self._ctx = ctx
        self._o = options
        self._senders = dict(senders) if senders is not None else build_senders(ctx, options)
        self.idle_s = options.idle_s
        self._gauge_at = 0.0

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self._o.lease_s)

    async def close(self) -> None:
        for sender in self._senders.values():
            await sender.close()

    async def run_once(self) -> int:
        """One batch: claim (patients' messages and account mail, one transaction), read what
        they need (one transaction per organization), send, and record every outcome in one
        statement. A crash after a send and before that record resends the message after the
        lease (at least once; its id lets the receiver drop the copy)."""
        now = self._ctx.clock.now()
        async with self._ctx.db.platform() as conn:
            items = await store.claim_outbox(conn, now, self._o.batch, self.lease)
            mails: list[store.AccountMail] = []
            if "email" in self._senders:
                mails = await store.claim_account_mail(conn, now, self._o.batch, self.lease)
        try:
            outcomes: list[store.Outcome] = []
            by_org: dict[uuid.UUID, list[OutboxItem]] = {}
            for item in items:
                by_org.setdefault(item.organization_id, []).append(item)
            for org_items in by_org.values():
                outcomes.extend(await self._deliver_org(org_items, now))
            if outcomes:
                async with self._ctx.db.platform() as conn:
                    kept = await store.finish_many(conn, outcomes, now)
                self._count(outcomes, kept)
            for mail in mails:
                await self._account_mail(mail, now)
        finally:
            await self.close()  # ends this batch's SMTP session
        await self._measure(now, len(items) < self._o.batch)
        return len(items) + len(mails)

    async def _measure(self, now: datetime, idle: bool) -> None:
        # The due gauge is a count over the partial index: at most every few seconds.
        tick = time.monotonic()
        if idle and tick - self._gauge_at >= GAUGE_EVERY_S:
            self._gauge_at = tick
            async with self._ctx.db.platform() as conn:
                metrics.OUTBOX_DUE.set(await store.outbox_due_count(conn, now))

    def _count(self, outcomes: list[store.Outcome], kept: set[uuid.UUID]) -> None:
        for o in outcomes:
            if o.item.id not in kept:  # our lease ran out and another dispatcher took it over
                log.warning("notification claim lost", extra=self._ids(o.item))
                continue
            outcome = "deferred" if not o.count_attempt else o.status
            metrics.OUTCOMES.labels("retry" if outcome == "pending" else outcome).inc()

    @staticmethod
    def _ids(item: OutboxItem) -> dict[str, Any]:
        return {
            "outbox_id": str(item.id),
            "organization_id": str(item.organization_id),
            "kind": item.kind,
        }

    # --- patient messages ---------------------------------------------------------------------

    async def _deliver_org(self, items: list[OutboxItem], now: datetime) -> list[store.Outcome]:
        org = items[0].organization_id
        try:
            async with self._ctx.db.tenant(org) as conn:
                recipients, unreadable = await store.load_recipients(
                    conn, self._ctx.keyring, [i.patient_id for i in items]
                )
                names = await store.appointment_names(
                    conn,
                    [u for i in items if (u := _uuid(i.data.get("specialist_id")))],
                    [u for i in items if (u := _uuid(i.data.get("service_id")))],
                )
                overrides = {
                    (t.kind, t.channel, t.language): t
                    for t in await store.find_templates(
                        sorted({k for i in items for k in _template_kinds(i)})
                    )
                }
        except Exception as exc:  # an outage: the whole organization's batch is retried
            log.exception("notification batch not loaded", extra={"organization_id": str(org)})
            return [self._retry_or_fail(i, now, f"load: {type(exc).__name__}") for i in items]
        outcomes = []
        for item in items:
            if item.patient_id in unreadable:
                log.error("notification recipient unreadable", extra=self._ids(item))
                outcomes.append(store.Outcome(item, "failed", "recipient unreadable"))
                continue
            who = recipients.get(item.patient_id)
            if who is None:
                outcomes.append(store.Outcome(item, "skipped", "patient not found"))
                continue
            try:
                outcomes.append(await self._deliver(item, who, names, overrides, now))
            except Exception as exc:  # a bug: retried like a failed send, and loud
                log.exception("notification delivery crashed", extra=self._ids(item))
                outcomes.append(self._retry_or_fail(item, now, f"crash: {type(exc).__name__}"))
        return outcomes

    async def _deliver(
        self,
        item: OutboxItem,
        who: Recipient,
        names: store.AppointmentNames,
        overrides: Mapping[tuple[str, str, str], store.Template],
        now: datetime,
    ) -> store.Outcome:
        prefs = who.preferences
        wanted_kind = prefs.reminders if item.kind in templates.REMINDER_KINDS else prefs.updates
        if not wanted_kind:
            return store.Outcome(item, "skipped", "opted out")
        addresses = {
            "email": who.email if prefs.email else None,
            "sms": who.phone if prefs.sms else None,
            # An in-app message is an event, kept in Redis in clear for resume: a message that
            # carries a secret (an intake link) goes by e-mail and SMS only.
            "in_app": str(who.patient_id) if prefs.in_app and not _has_secrets(item) else None,
        }
        channels = [
            c for c, to in addresses.items()
            if to and c in self._senders and c not in item.delivered
        ]  # fmt: skip
        if not channels:
            if item.delivered:
                return store.Outcome(item, "sent")
            return store.Outcome(item, "skipped", "no channel")
        held = self._held_until(item, who, now)
        if held is not None:
            return store.Outcome(item, "pending", retry_at=held, count_attempt=False)
        language = choose_language(who)
        try:
            secrets = store.open_secrets(self._ctx.keyring, item)
        except CryptoError:
            log.error("notification secret unreadable", extra=self._ids(item))
            return store.Outcome(item, "failed", "secret unreadable")
        values = {**self._values(item, who, language, names), **secrets}
        errors: list[ChannelError] = []
        delivered: list[str] = []
        kinds = _template_kinds(item)
        for channel in channels:
            override = next(
                (o for k in kinds if (o := overrides.get((k, channel, language))) is not None),
                None,
            )
            text = (
                templates.Text(override.subject, override.body)
                if override is not None
                else templates.builtin(item.kind, channel, language)
            )
            rendered = templates.render(text, values)
            message = Message(
                id=str(item.id), kind=item.kind, to=addresses[channel] or "",
                subject=rendered.subject, body=rendered.body, language=language,
            )  # fmt: skip
            try:
                await self._senders[channel].send(message)
            except ChannelError as exc:
                metrics.FAILED.labels(channel).inc()
                log.warning(
                    "notification not delivered",
                    extra={**self._ids(item), "channel": channel, "reason": exc.reason},
                )
                errors.append(exc)
                continue
            metrics.SENT.labels(channel).inc()
            delivered.append(channel)
        if not errors:
            log.info("notification sent", extra={**self._ids(item), "channels": channels})
            return store.Outcome(item, "sent", delivered=tuple(delivered))
        reason = "; ".join(str(e) for e in errors)
        if not any(e.retry for e in errors):
            return store.Outcome(item, "failed", reason, delivered=tuple(delivered))
        retry = self._retry_or_fail(item, now, reason)
        return store.Outcome(
            item, retry.status, retry.error, retry.retry_at, delivered=tuple(delivered)
        )

    def _held_until(self, item: OutboxItem, who: Recipient, now: datetime) -> datetime | None:
        if item.kind in templates.URGENT:
            return None
        quiet = who.preferences.quiet or who.settings.quiet
        tz = zone(who.preferences.timezone or who.settings.timezone or who.clinic_timezone)
        until = quiet_until(now, quiet, tz)
        if until is None:
            return None
        starts = _instant(item.data.get("starts_at"))
        if item.kind in templates.REMINDER_KINDS and starts is not None and until >= starts:
            return None  # held any longer it would arrive after the appointment began
        return until

    @staticmethod
    def _values(
        item: OutboxItem, who: Recipient, language: str, names: store.AppointmentNames
    ) -> dict[str, str]:
        tz = zone(who.settings.timezone or who.clinic_timezone)
        values = {
            "clinic": who.clinic_name,
            "patient_name": f"{who.first_name} {who.last_name}".strip(),
        }
        specialist = _uuid(item.data.get("specialist_id"))
        service = _uuid(item.data.get("service_id"))
        if specialist is not None:
            values["specialist"] = names.specialists.get(specialist, "")
        if service is not None:
            values["service"] = names.services.get(service, "")
        for key, prefix in (("starts_at", ""), ("previous_starts_at", "previous_")):
            at = _instant(item.data.get(key))
            if at is not None:
                local = at.astimezone(tz)
                values[f"{prefix}date"] = local.strftime("%d.%m.%Y")
                values[f"{prefix}time"] = local.strftime("%H:%M")
        expires = _instant(item.data.get("expires_at"))
        if expires is not None:
            values["expires"] = expires.astimezone(tz).strftime("%d.%m.%Y %H:%M")
        if isinstance(item.data.get("link"), str):
            values["link"] = item.data["link"]
        lead = item.data.get("lead_min")
        if isinstance(lead, int):
            values["lead"] = templates.lead_text(lead, language)
        return values

    def _retry_or_fail(self, item: OutboxItem, now: datetime, reason: str) -> store.Outcome:
        if item.attempts >= self._o.max_attempts:
            return store.Outcome(item, "failed", reason)
        retry_at = now + timedelta(seconds=self._o.backoff(item.attempts))
        return store.Outcome(item, "pending", reason, retry_at)

    # --- account mail (password resets) -------------------------------------------------------

    async def _account_mail(self, mail: store.AccountMail, now: datetime) -> None:
        sender = self._senders["email"]
        ids = {"mail_id": str(mail.id), "kind": mail.kind}
        status, error, retry_at = "sent", None, None
        try:
            if mail.secret is None:
                raise CryptoError("no secret")
            code = self._ctx.keyring.open(mail.secret, store.secret_ref(mail.id))
            text = templates.render(
                templates.builtin(mail.kind, "email", mail.language),
                {"code": code, "minutes": "30"},
            )
            await sender.send(
                Message(str(mail.id), mail.kind, mail.email, text.subject, text.body,
                        mail.language)
            )  # fmt: skip
            metrics.SENT.labels("email").inc()
        except CryptoError:
            status, error = "failed", "secret unreadable"
        except ChannelError as exc:
            metrics.FAILED.labels("email").inc()
            error = str(exc)
            if exc.retry and mail.attempts < self._o.max_attempts:
                status = "pending"
                retry_at = now + timedelta(seconds=self._o.backoff(mail.attempts))
            else:
                status = "failed"
        log.info("account mail " + status, extra={**ids, "reason": error})
        async with self._ctx.db.platform() as conn:
            await store.finish_account_mail(conn, mail, status, now, error=error, retry_at=retry_at)
