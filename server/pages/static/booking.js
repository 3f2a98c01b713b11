// The public booking page of a calendar: free times by day in the viewer's time zone, kept
// live through the calendar's channel, a hold with a countdown, the guest form, confirmation.
// The calendar's booking terms (GET .../booking-terms) say whether a booking is made at once or
// sent as a request the clinic confirms, and whether the guest must accept the clinic's privacy
// policy: then the form asks for it and sends the version and digest it was shown.
// @ts-check
import { CadenceClient, CadenceError, applySlotDelta } from "/static/js/cadence.js";

/** @typedef {import("/static/js/cadence.js").Slot} Slot */
/** @typedef {import("/static/js/cadence.js").Hold} Hold */
/** @typedef {import("/static/js/cadence.js").Position} Position */
/** @typedef {import("/static/js/cadence.js").SlotDelta} SlotDelta */
/** @typedef {import("/static/js/cadence.js").BookingTerms} BookingTerms */

const DAYS = 14;
const calendarId = new URLSearchParams(location.search).get("calendar") ?? "";
const channel = `calendar:${calendarId}`;
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const dateKey = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
const timeOf = new Intl.DateTimeFormat(undefined, { timeZone: zone, hour: "2-digit", minute: "2-digit" });
const dayTitle = new Intl.DateTimeFormat(undefined, { timeZone: zone, weekday: "long", day: "numeric", month: "long" });
const whenOf = new Intl.DateTimeFormat(undefined, { timeZone: zone, dateStyle: "full", timeStyle: "short" });

/** @param {string} id @returns {HTMLElement} */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const wsUrl = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/v1/ws`;
const client = new CadenceClient(wsUrl, { token: null });

/** @type {Slot[]} */
let slots = [];
/** @type {Hold | null} */
let hold = null;
/** @type {string | undefined} the secret naming this booker's holds (replaced, not stacked) */
let holdToken;
/** @type {ReturnType<typeof setInterval> | undefined} */
let ticker;
let range = { from: "", to: "" };
/** @type {BookingTerms} */
let terms = { mode: "instant", consent_required: false, privacy_policy_version: null, privacy_policy_sha256: null };

/** @param {Date} d */
function localDate(d) {
  return dateKey.format(d);
}

function dayRange() {
  const today = new Date();
  const last = new Date(today.getTime() + DAYS * 86400000);
  return { from: localDate(today), to: localDate(last) };
}

/** @returns {Promise<{position: Position, slots: Slot[]}>} */
async function snapshot() {
  range = dayRange();
  const query = new URLSearchParams({ from: range.from, to: range.to, timezone: zone, group: "day" });
  /** @type {{position: Position, slots: Slot[], days?: Array<{date: string, slots: Slot[]}>}} */
  const answer = await client.fetchJson("GET", `/v1/public/calendars/${encodeURIComponent(calendarId)}/slots?${query}`);
  const flat = answer.days ? answer.days.flatMap((d) => d.slots) : answer.slots;
  return { position: answer.position, slots: flat };
}

function render() {
  const days = $("days");
  /** @type {Map<string, Slot[]>} */
  const byDay = new Map();
  const now = Date.now();
  for (const slot of slots) {
    const start = new Date(slot.start);
    if (start.getTime() <= now) continue;
    const key = localDate(start);
    if (key < range.from || key > range.to) continue;
    const list = byDay.get(key) ?? [];
    list.push(slot);
    byDay.set(key, list);
  }
  const sections = [];
  for (const [key, list] of byDay) {
    const section = document.createElement("article");
    section.className = "day";
    section.dataset.date = key;
    const title = document.createElement("h2");
    title.textContent = dayTitle.format(new Date(list[0].start));
    const row = document.createElement("div");
    row.className = "slots";
    for (const slot of list) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "slot";
      button.dataset.start = slot.start;
      button.textContent = timeOf.format(new Date(slot.start));
      button.addEventListener("click", () => void take(slot));
      row.append(button);
    }
    section.append(title, row);
    sections.push(section);
  }
  days.replaceChildren(...sections);
  $("empty").hidden = sections.length > 0;
  if (sections.length > 0 && !document.documentElement.dataset.firstSlot) {
    // For the bench: when the first free time became visible.
    document.documentElement.dataset.firstSlot = String(performance.now());
  }
}

/** @param {SlotDelta} delta */
function apply(delta) {
  slots = applySlotDelta(slots, delta);
  render();
}

async function follow() {
  const first = await snapshot();
  slots = first.slots;
  render();
  await client.subscribe(channel, {
    since: first.position,
    onEvent: (event) => {
      if (event.type === "slots.changed") apply(/** @type {SlotDelta} */ (event.data));
    },
    // History was lost: start over from a fresh snapshot and its position.
    onResync: async () => {
      await client.unsubscribe(channel);
      await follow();
    },
  });
}

/** @param {Slot} slot */
async function take(slot) {
  $("error").textContent = "";
  $("expired").hidden = true;
  $("confirmation").hidden = true;
  try {
    const granted = await client.hold({ calendar_id: calendarId, start: slot.start, hold_token: holdToken });
    holdToken = granted.hold_token ?? holdToken;
    hold = granted;
    showHold();
  } catch (error) {
    const code = error instanceof CadenceError ? error.code : "";
    $("error").textContent =
      code === "slot_unavailable" ? "Someone has just taken this time. Please pick another."
        : code === "rate_limited" ? "Too many tries; wait a moment and pick again."
          : "The time could not be held. Please try again.";
  }
}

/** The calendar's terms, shown on the form: a request or a booking; the consent it needs. */
async function loadTerms() {
  terms = await client.fetchJson("GET", `/v1/public/calendars/${encodeURIComponent(calendarId)}/booking-terms`);
  $("book").textContent = terms.mode === "request" ? "Request this time" : "Book this time";
  const asks = terms.consent_required && terms.privacy_policy_version !== null;
  $("consent-row").hidden = !asks;
  /** @type {HTMLInputElement} */ ($("consent")).required = asks;
  $("policy-version").textContent = `version ${terms.privacy_policy_version ?? ""}`;
}

function showHold() {
  if (!hold) return;
  $("hold-when").textContent = whenOf.format(new Date(hold.start));
  $("hold").hidden = false;
  /** @type {HTMLFormElement} */ ($("guest")).querySelector("input")?.focus();
  clearInterval(ticker);
  tick();
  ticker = setInterval(tick, 250);
}

function tick() {
  if (!hold) return;
  const left = Math.max(0, Date.parse(hold.expires_at) - Date.now());
  const seconds = Math.ceil(left / 1000);
  const countdown = $("countdown");
  countdown.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  countdown.classList.toggle("low", seconds <= 60);
  if (left <= 0) {
    endHold();
    $("expired").hidden = false;
  }
}

function endHold() {
  clearInterval(ticker);
  hold = null;
  $("hold").hidden = true;
  $("form-error").textContent = "";
}

async function release() {
  if (!hold) return;
  const id = hold.id;
  endHold();
  try {
    await client.release(id, holdToken);
  } catch {
    // It expires by itself; nothing the visitor needs to do.
  }
}

/** @param {SubmitEvent} event */
async function book(event) {
  event.preventDefault();
  if (!hold || !holdToken) return;
  const form = /** @type {HTMLFormElement} */ (event.target);
  const data = new FormData(form);
  const reason = String(data.get("visit_reason") ?? "").trim();
  $("form-error").textContent = "";
  /** @type {HTMLButtonElement} */ ($("book")).disabled = true;
  try {
    const consent =
      terms.consent_required && data.get("consent") && terms.privacy_policy_version && terms.privacy_policy_sha256
        ? { consent: { accepted: /** @type {const} */ (true), privacy_policy_version: terms.privacy_policy_version, privacy_policy_sha256: terms.privacy_policy_sha256 } }
        : {};
    const appointment = await client.bookPublic({
      hold_id: hold.id,
      hold_token: holdToken,
      contact: { name: String(data.get("name")), email: String(data.get("email")), phone: String(data.get("phone")) },
      ...(reason ? { visit_reason: reason } : {}),
      ...consent,
    });
    endHold();
    form.reset();
    const requested = appointment.status === "requested";
    $("confirmed-title").textContent = requested ? "Request sent" : "Booked";
    $("confirmed-lead").textContent = requested ? "You asked for" : "Your appointment is on";
    $("requested-note").hidden = !requested;
    $("confirmed-when").textContent = whenOf.format(new Date(appointment.start));
    $("confirmed-id").textContent = appointment.id;
    $("confirmation").hidden = false;
  } catch (error) {
    const e = error instanceof CadenceError ? error : null;
    if (e?.code === "hold_expired") {
      endHold();
      $("expired").hidden = false;
    } else if (e?.code === "consent_required" || e?.code === "consent_outdated") {
      // The clinic changed its policy while the form was open: show the current one.
      await loadTerms().catch(() => undefined);
      /** @type {HTMLInputElement} */ ($("consent")).checked = false;
      $("form-error").textContent = "Please read and accept the clinic's current privacy policy.";
    } else {
      $("form-error").textContent = e?.status === 422 ? "Please check the name, e-mail and phone." : "The booking failed; please try again.";
    }
  } finally {
    /** @type {HTMLButtonElement} */ ($("book")).disabled = false;
  }
}

function showState() {
  const live = $("live");
  live.dataset.state = client.state;
  live.textContent = { idle: "…", connecting: "connecting…", open: "live", reconnecting: "reconnecting…", closed: "offline" }[client.state];
}

client.addEventListener("state", showState);
$("guest").addEventListener("submit", (event) => void book(/** @type {SubmitEvent} */ (event)));
$("release").addEventListener("click", () => void release());
$("zone").textContent = `Times are shown in your time zone (${zone}).`;

void client.connect().catch(() => showState());
Promise.all([loadTerms(), follow()]).catch((error) => {
  $("error").textContent =
    error instanceof CadenceError && error.status === 404 ? "This calendar does not exist or is not public." : "The free times could not be loaded. Reload the page to try again.";
});
