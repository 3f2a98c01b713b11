"""Message texts: the built-in ones (English and Romanian) and the clinic's overrides, rendered
by plain `{placeholder}` substitution.

Substitution is one pass over the template: a value is never read as a template itself (a
patient named "{code}" stays "{code}"), `{{` and `}}` write literal braces, and a subject has its
line breaks flattened (a value cannot add a mail header). A clinic's template may use only the
placeholders of its kind (`unknown_placeholders`, checked when it is saved).

Automation messages (a rule's `send_notification`, actors/automations) name a template: the
clinic writes it as a template of kind `automation_message:<name>`, which has the placeholders
and the built-in wording of `automation_message` (`base_kind`); a name the clinic has not
written is sent in the built-in, generic wording.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

CHANNELS = ("email", "sms", "in_app")
LANGUAGES = ("en", "ro")
FALLBACK_LANGUAGE = "en"

_APPOINTMENT = frozenset({"clinic", "patient_name", "date", "time", "specialist", "service"})
PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "appointment_confirmation": _APPOINTMENT,
    "appointment_change": _APPOINTMENT | {"previous_date", "previous_time"},
    "appointment_cancellation": _APPOINTMENT,
    "appointment_reminder": _APPOINTMENT | {"lead"},
    "waitlist_offer": _APPOINTMENT | {"expires"},
    # A guest's booking request: received (staff will answer), then declined or expired (a
    # confirmed request gets the usual appointment_confirmation).
    "booking_request_received": _APPOINTMENT,
    "booking_request_declined": _APPOINTMENT,
    "intake_request": frozenset({"clinic", "patient_name", "link"}),
    "automation_message": frozenset({"clinic", "patient_name"}),
    "password_reset": frozenset({"code", "minutes"}),
}
KINDS = tuple(PLACEHOLDERS)
# Kinds that are never held back by quiet hours (the reader is waiting for them).
URGENT = frozenset({"password_reset"})
REMINDER_KINDS = frozenset({"appointment_reminder"})
AUTOMATION_KIND = "automation_message"
# A rule's template name (the same pattern as storage/automations' rule schema, and short
# enough that `automation_message:<name>` fits the 64 characters of a template's kind).
TEMPLATE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")

_TOKEN = re.compile(r"\{\{|\}\}|\{([a-z_]+)\}")


@dataclass(frozen=True, slots=True)
class Text:
    subject: str  # the e-mail subject and the in-app title; unused by SMS
    body: str


@dataclass(frozen=True, slots=True)
class Wording:
    """A kind's texts in one language: long (e-mail) and short (SMS, in-app)."""

    subject: str
    long: str
    short: str

    def text(self, channel: str) -> Text:
        return Text(self.subject, self.long if channel == "email" else self.short)


def named_kind(name: str) -> str | None:
    """The template kind of an automation's named message; None for a name no rule may use."""
    return f"{AUTOMATION_KIND}:{name}" if TEMPLATE_NAME.fullmatch(name) else None


def base_kind(kind: str) -> str | None:
    """The kind whose placeholders and built-in wording `kind` has: itself when known,
    `automation_message` for `automation_message:<name>`, else None."""
    if kind in PLACEHOLDERS:
        return kind
    prefix, sep, name = kind.partition(":")
    if sep and prefix == AUTOMATION_KIND and TEMPLATE_NAME.fullmatch(name):
        return AUTOMATION_KIND
    return None


def placeholders_of(template: str) -> set[str]:
    return {m.group(1) for m in _TOKEN.finditer(template) if m.group(1)}


def unknown_placeholders(kind: str, *templates: str) -> set[str]:
    base = base_kind(kind)
    allowed = PLACEHOLDERS[base] if base is not None else frozenset()
    found: set[str] = set()
    for t in templates:
        found |= placeholders_of(t)
    return found - allowed


def substitute(template: str, values: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "{{":
            return "{"
        if whole == "}}":
            return "}"
        return values.get(m.group(1), "")

    return _TOKEN.sub(one, template)


def render(text: Text, values: Mapping[str, str]) -> Text:
    subject = " ".join(substitute(text.subject, values).split())
    return Text(subject, substitute(text.body, values))


def builtin(kind: str, channel: str, language: str) -> Text:
    base = base_kind(kind)
    if base is None:
        raise KeyError(kind)
    by_language = BUILTIN[base]
    wording = by_language.get(language) or by_language[FALLBACK_LANGUAGE]
    return wording.text(channel)


def lead_text(minutes: int, language: str) -> str:
    if minutes % 1440 == 0:
        days = minutes // 1440
        if language == "ro":
            return "o zi" if days == 1 else f"{days} zile"
        return "1 day" if days == 1 else f"{days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        if language == "ro":
            return "o oră" if hours == 1 else f"{hours} ore"
        return "1 hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} min"


_W = Wording
BUILTIN: Mapping[str, Mapping[str, Wording]] = {
    "appointment_confirmation": {
        "en": _W(
            "Your appointment at {clinic} is confirmed",
            "Hello {patient_name},\n\nYour appointment for {service} with {specialist} at "
            "{clinic} is booked for {date} at {time}.\n\nSee you soon,\n{clinic}\n",
            "{clinic}: appointment booked for {date} at {time} with {specialist}.",
        ),
        "ro": _W(
            "Programarea dumneavoastră la {clinic} este confirmată",
            "Bună ziua, {patient_name},\n\nProgramarea pentru {service} cu {specialist} la "
            "{clinic} este stabilită pe {date}, ora {time}.\n\nVă așteptăm,\n{clinic}\n",
            "{clinic}: programare confirmată pe {date}, ora {time}, cu {specialist}.",
        ),
    },
    "appointment_change": {
        "en": _W(
            "Your appointment at {clinic} has moved",
            "Hello {patient_name},\n\nYour appointment for {service} with {specialist} has "
            "moved from {previous_date} {previous_time} to {date} at {time}.\n\n{clinic}\n",
            "{clinic}: your appointment moved to {date} at {time}.",
        ),
        "ro": _W(
            "Programarea dumneavoastră la {clinic} s-a modificat",
            "Bună ziua, {patient_name},\n\nProgramarea pentru {service} cu {specialist} a fost "
            "mutată de pe {previous_date} {previous_time} pe {date}, ora {time}.\n\n{clinic}\n",
            "{clinic}: programarea a fost mutată pe {date}, ora {time}.",
        ),
    },
    "appointment_cancellation": {
        "en": _W(
            "Your appointment at {clinic} is cancelled",
            "Hello {patient_name},\n\nYour appointment for {service} with {specialist} on "
            "{date} at {time} is cancelled.\n\n{clinic}\n",
            "{clinic}: your appointment on {date} at {time} is cancelled.",
        ),
        "ro": _W(
            "Programarea dumneavoastră la {clinic} a fost anulată",
            "Bună ziua, {patient_name},\n\nProgramarea pentru {service} cu {specialist} din "
            "{date}, ora {time}, a fost anulată.\n\n{clinic}\n",
            "{clinic}: programarea din {date}, ora {time}, a fost anulată.",
        ),
    },
    "appointment_reminder": {
        "en": _W(
            "Reminder: your appointment at {clinic} in {lead}",
            "Hello {patient_name},\n\nA reminder of your appointment for {service} with "
            "{specialist} on {date} at {time}.\n\n{clinic}\n",
            "{clinic}: reminder, appointment on {date} at {time} with {specialist}.",
        ),
        "ro": _W(
            "Memento: programarea dumneavoastră la {clinic} peste {lead}",
            "Bună ziua, {patient_name},\n\nVă reamintim de programarea pentru {service} cu "
            "{specialist} din {date}, ora {time}.\n\n{clinic}\n",
            "{clinic}: memento, programare pe {date}, ora {time}, cu {specialist}.",
        ),
    },
    "waitlist_offer": {
        "en": _W(
            "A place is free at {clinic}",
            "Hello {patient_name},\n\nA place for {service} with {specialist} is free on "
            "{date} at {time}. It is held for you until {expires}.\n\n{clinic}\n",
            "{clinic}: a place is free on {date} at {time}, held until {expires}.",
        ),
        "ro": _W(
            "Un loc s-a eliberat la {clinic}",
            "Bună ziua, {patient_name},\n\nS-a eliberat un loc pentru {service} cu "
            "{specialist} pe {date}, ora {time}. Este rezervat pentru dumneavoastră până la "
            "{expires}.\n\n{clinic}\n",
            "{clinic}: loc liber pe {date}, ora {time}, rezervat până la {expires}.",
        ),
    },
    "booking_request_received": {
        "en": _W(
            "Your booking request at {clinic} is received",
            "Hello {patient_name},\n\nWe received your request for {service} with "
            "{specialist} on {date} at {time}. The time is kept for you while the clinic "
            "confirms it; you will hear from us soon.\n\n{clinic}\n",
            "{clinic}: request for {date} at {time} received; we will confirm it soon.",
        ),
        "ro": _W(
            "Cererea de programare la {clinic} a fost primită",
            "Bună ziua, {patient_name},\n\nAm primit cererea pentru {service} cu "
            "{specialist} pe {date}, ora {time}. Ora este rezervată pentru dumneavoastră până "
            "când clinica o confirmă; veți primi un răspuns în curând.\n\n{clinic}\n",
            "{clinic}: cererea pentru {date}, ora {time}, a fost primită; revenim curând.",
        ),
    },
    "booking_request_declined": {
        "en": _W(
            "Your booking request at {clinic} could not be confirmed",
            "Hello {patient_name},\n\nWe are sorry: your request for {service} with "
            "{specialist} on {date} at {time} could not be confirmed. Please choose another "
            "time or contact us.\n\n{clinic}\n",
            "{clinic}: your request for {date} at {time} could not be confirmed.",
        ),
        "ro": _W(
            "Cererea de programare la {clinic} nu a putut fi confirmată",
            "Bună ziua, {patient_name},\n\nNe pare rău: cererea pentru {service} cu "
            "{specialist} din {date}, ora {time}, nu a putut fi confirmată. Vă rugăm să alegeți "
            "altă oră sau să ne contactați.\n\n{clinic}\n",
            "{clinic}: cererea pentru {date}, ora {time}, nu a putut fi confirmată.",
        ),
    },
    "intake_request": {
        "en": _W(
            "Please fill in your intake form for {clinic}",
            "Hello {patient_name},\n\nBefore your visit, please fill in the intake form: "
            "{link}\n\n{clinic}\n",
            "{clinic}: please fill in your intake form: {link}",
        ),
        "ro": _W(
            "Vă rugăm să completați formularul pentru {clinic}",
            "Bună ziua, {patient_name},\n\nÎnainte de vizită, vă rugăm să completați "
            "formularul: {link}\n\n{clinic}\n",
            "{clinic}: vă rugăm completați formularul: {link}",
        ),
    },
    "automation_message": {
        "en": _W(
            "A message from {clinic}",
            "Hello {patient_name},\n\nWe would be glad to hear from you. If you would like to "
            "book a visit or have a question, get in touch with us or book online.\n\n"
            "{clinic}\n",
            "{clinic}: we would be glad to hear from you. Get in touch or book a visit.",
        ),
        "ro": _W(
            "Un mesaj de la {clinic}",
            "Bună ziua, {patient_name},\n\nNe-ar face plăcere să auzim de la dumneavoastră. "
            "Dacă doriți o programare sau aveți o întrebare, contactați-ne sau programați-vă "
            "online.\n\n{clinic}\n",
            "{clinic}: ne-ar face plăcere să auzim de la dvs. Contactați-ne sau programați-vă.",
        ),
    },
    "password_reset": {
        "en": _W(
            "Reset your Cadence password",
            "Someone (hopefully you) asked to reset the password of your Cadence account.\n\n"
            "Your reset code, valid for {minutes} minutes and once:\n\n{code}\n\n"
            "If you did not ask for this, ignore this message: your password stays as it is.\n",
            "Cadence reset code: {code}",
        ),
        "ro": _W(
            "Resetarea parolei Cadence",
            "Cineva (sperăm că dumneavoastră) a cerut resetarea parolei contului Cadence.\n\n"
            "Codul de resetare, valabil {minutes} minute și o singură dată:\n\n{code}\n\n"
            "Dacă nu ați cerut acest lucru, ignorați mesajul: parola rămâne neschimbată.\n",
            "Cod de resetare Cadence: {code}",
        ),
    },
}
del _W
