// The front desk: the day grid of every specialist, kept live through the organization's staff
// channel (`org:<id>`), with check-in, cancel (with one of the clinic's reasons), reschedule by a
// form, walk-ins, the waitlist and the dashboard cards. Staff only: the token comes from the
// sign-in page's cookie flow (session.js) and lives in memory; signed out, the page sends the
// visitor to /signin, which sends them back here.
// @ts-check
import { CadenceClient } from "/static/js/cadence.js";
import { accessToken, refresh } from "/static/pages/session.js";

/** @typedef {import("/static/js/cadence.js").CadenceEvent} CadenceEvent */
/** @typedef {import("/static/js/cadence.js").Position} Position */
/** @typedef {{id: string, status: string, start: string, end: string, calendar_id: string, room?: {id: string, name: string} | null, patient: {id: string, first_name: string, last_name: string}}} GridAppointment */
/** @typedef {{id: string, name: string, timezone: string, working_hours: Array<{start: string, end: string}>, appointments: GridAppointment[]}} Column */
/** @typedef {{date: string, timezone: string, specialists: Column[]}} Grid */
/** @typedef {{code: string, label: string}} Reason */
/** @typedef {Record<string, number>} Cards */
/** @typedef {{id: string, patient_id: string, priority: string, status: string, from: string, to: string, offers: number}} WaitlistEntry */

const DESK_ROLES = new Set(["admin", "receptionist"]);
const CHECK_IN_FROM = new Set(["booked", "confirmed"]);
const CANCEL_FROM = new Set(["booked", "confirmed", "checked_in"]);
const MOVE_FROM = new Set(["booked", "confirmed"]);
// Without a clinic list any text is accepted; these keep the choice a choice.
const FALLBACK_REASONS = [
  { code: "patient_request", label: "The patient asked" },
  { code: "clinic_request", label: "The clinic asked" },
  { code: "other", label: "Other" },
];
const CARD_LABELS = /** @type {Record<string, string>} */ ({
  appointments_today: "Appointments today",
  checked_in: "Checked in",
  waiting: "Waiting",
  no_shows: "No-shows",
  intake_pending: "Intake pending",
  follow_ups_due: "Follow-ups due",
});
const STATUS_LABELS = /** @type {Record<string, string>} */ ({
  requested: "request",
  booked: "booked",
  confirmed: "confirmed",
  checked_in: "checked in",
  in_progress: "in session",
  completed: "completed",
  cancelled: "cancelled",
  no_show: "no-show",
});

const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const dateKey = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
const timeOf = new Intl.DateTimeFormat(undefined, { timeZone: zone, hour: "2-digit", minute: "2-digit" });
const shortDate = new Intl.DateTimeFormat(undefined, { timeZone: zone, day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

/** @param {string} id @returns {HTMLElement} */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

class HttpError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function toSignIn() {
  location.assign(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
}

/** A REST call with the in-memory access token (refreshed from the cookie when due).
 * @param {string} method @param {string} path @param {unknown} [body] @returns {Promise<any>} */
async function api(method, path, body) {
  const token = await accessToken();
  if (!token) {
    toSignIn();
    throw new HttpError(401, "signed_out", "signed out");
  }
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = data?.error ?? { code: "http_error", message: response.statusText };
    throw new HttpError(response.status, error.code, error.message);
  }
  return data;
}

/** @param {unknown} error @param {string} fallback */
function explain(error, fallback) {
  if (!(error instanceof HttpError)) return fallback;
  if (error.code === "slot_unavailable") return "That time is taken; choose another.";
  if (error.code === "invalid_transition") return "The appointment has changed meanwhile; the grid shows it now.";
  if (error.code === "rate_limited") return "Too many requests; wait a moment.";
  if (error.code === "request_expired") return "The request expired unanswered; its time is free again.";
  if (error.status === 422) return `Please check the form: ${error.message}`;
  return fallback;
}

/** @type {Grid | null} */
let grid = null;
let day = new URLSearchParams(location.search).get("date") ?? dateKey.format(new Date());
/** @type {Reason[]} */
let reasons = [];
/** @type {GridAppointment | null} */
let selected = null;
let loading = false;
let again = false;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let pending;

const client = new CadenceClient(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/v1/ws`, {
  token: accessToken,
});

/** @param {GridAppointment} a */
const nameOf = (a) => `${a.patient.first_name} ${a.patient.last_name}`.trim();

/** @param {string} text @param {string} className @param {() => void} action */
function button(text, className, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = text;
  b.addEventListener("click", action);
  return b;
}

/** @param {GridAppointment} a @param {Column} column */
function appointmentCard(a, column) {
  const card = document.createElement("article");
  card.className = "appt";
  card.dataset.id = a.id;
  card.dataset.status = a.status;
  const when = document.createElement("span");
  when.className = "when";
  when.textContent = `${timeOf.format(new Date(a.start))}–${timeOf.format(new Date(a.end))}`;
  const who = document.createElement("strong");
  who.className = "who";
  who.textContent = nameOf(a);
  const status = document.createElement("span");
  status.className = "status";
  status.textContent = STATUS_LABELS[a.status] ?? a.status;
  const actions = document.createElement("div");
  actions.className = "appt-actions";
  if (a.status === "requested") {
    // A guest's booking request (the calendar takes requests): the desk answers it here.
    actions.append(
      button("Confirm", "primary small confirm", () => void decide(a, "confirm")),
      button("Decline", "secondary small decline", () => void decide(a, "decline")),
    );
  }
  if (CHECK_IN_FROM.has(a.status)) actions.append(button("Check in", "primary small check-in", () => void checkIn(a)));
  if (MOVE_FROM.has(a.status)) actions.append(button("Reschedule", "secondary small move", () => openMove(a, column)));
  if (CANCEL_FROM.has(a.status)) actions.append(button("Cancel", "secondary small cancel", () => openCancel(a)));
  card.append(when, status, who);
  if (a.room) {
    const room = document.createElement("span");
    room.className = "room muted";
    room.textContent = a.room.name;
    card.append(room);
  }
  card.append(actions);
  return card;
}

function render() {
  if (!grid) return;
  const columns = [];
  for (const column of grid.specialists) {
    const section = document.createElement("article");
    section.className = "column";
    section.dataset.specialist = column.id;
    const title = document.createElement("h2");
    title.textContent = column.name;
    const hours = document.createElement("p");
    hours.className = "muted hours";
    hours.textContent = column.working_hours.length
      ? column.working_hours.map((h) => `${timeOf.format(new Date(h.start))}–${timeOf.format(new Date(h.end))}`).join(", ")
      : "not working";
    const list = document.createElement("div");
    list.className = "appts";
    const sorted = [...column.appointments].sort((x, y) => Date.parse(x.start) - Date.parse(y.start));
    for (const a of sorted) list.append(appointmentCard(a, column));
    if (sorted.length === 0) {
      const none = document.createElement("p");
      none.className = "muted";
      none.textContent = "No appointments.";
      list.append(none);
    }
    section.append(title, hours, list);
    columns.push(section);
  }
  $("grid").replaceChildren(...columns);
  $("empty").hidden = columns.length > 0;
}

async function loadGrid() {
  const query = new URLSearchParams({ date: day, timezone: zone });
  const answer = /** @type {Grid} */ (await api("GET", `/v1/schedule/grid?${query}`));
  if (answer.date !== day) return; // the day changed while this was on its way
  grid = answer;
  render();
  document.documentElement.dataset.gridLoaded = answer.date;
}

/** Reloads the grid and the cards soon: a burst of events costs one reload, never two at once. */
function reloadSoon() {
  clearTimeout(pending);
  pending = setTimeout(() => void reloadNow(), 100);
}

async function reloadNow() {
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  try {
    // The dashboard is brought up to date by its read, so its cards follow the grid even when
    // the projection's consumers lag behind.
    await Promise.all([loadGrid(), loadDashboard()]);
    $("error").textContent = "";
  } catch (error) {
    $("error").textContent = explain(error, "The day could not be loaded; it will be tried again on the next change.");
  } finally {
    loading = false;
    if (again) {
      again = false;
      reloadSoon();
    }
  }
}

/** @param {Cards} cards */
function showCards(cards) {
  const items = Object.entries(CARD_LABELS).map(([key, label]) => {
    const card = document.createElement("div");
    card.className = "card";
    card.dataset.card = key;
    const value = document.createElement("strong");
    value.textContent = String(cards[key] ?? 0);
    const name = document.createElement("span");
    name.textContent = label;
    card.append(value, name);
    return card;
  });
  $("cards").replaceChildren(...items);
  $("cards").hidden = false;
}

/** The dashboard's snapshot (cards and the channel position), or null when it is unavailable.
 * @returns {Promise<Position | null>} */
async function loadDashboard() {
  try {
    /** @type {{cards: Cards, position: Position}} */
    const dashboard = await api("GET", "/v1/dashboard");
    showCards(dashboard.cards);
    return dashboard.position;
  } catch {
    return null; // the grid works without the cards
  }
}

/** Patient names the waitlist shows, by id; a patient's name is fetched once per page load. */
/** @type {Map<string, Promise<string>>} */
const patientNames = new Map();

/** @param {string} patientId */
function patientName(patientId) {
  let name = patientNames.get(patientId);
  if (name === undefined) {
    name = api("GET", `/v1/patients/${encodeURIComponent(patientId)}`).then(
      (/** @type {{first_name: string, last_name: string}} */ p) => `${p.first_name} ${p.last_name}`.trim(),
      () => `patient ${patientId.slice(0, 8)}`, // gone or not visible: the entry still shows
    );
    patientNames.set(patientId, name);
  }
  return name;
}

async function loadWaitlist() {
  /** @type {{data: WaitlistEntry[]}} */
  const answer = await api("GET", "/v1/waitlist");
  const names = await Promise.all(answer.data.map((entry) => patientName(entry.patient_id)));
  const items = answer.data.map((entry, i) => {
    const item = document.createElement("li");
    item.dataset.id = entry.id;
    item.dataset.priority = entry.priority;
    item.textContent =
      `${entry.priority === "urgent" ? "Urgent · " : ""}${names[i]} · ` +
      `${shortDate.format(new Date(entry.from))} – ${shortDate.format(new Date(entry.to))} · ${entry.status}` +
      (entry.offers ? ` (${entry.offers} offer${entry.offers > 1 ? "s" : ""})` : "");
    return item;
  });
  $("waitlist-list").replaceChildren(...items);
  $("waitlist-empty").hidden = items.length > 0;
}

/** @param {CadenceEvent} event */
function onEvent(event) {
  if (event.type.startsWith("appointment.")) reloadSoon();
  else if (event.type === "dashboard.updated") showCards(/** @type {{cards: Cards}} */ (event.data).cards);
  else if (event.type.startsWith("waitlist.")) void loadWaitlist().catch(() => undefined);
}

/** @param {string} orgId */
async function follow(orgId) {
  const since = await loadDashboard();
  await client.subscribe(`org:${orgId}`, {
    since,
    onEvent,
    // History was lost: the snapshots are fetched again; events continue from the new position.
    onResync: async () => {
      reloadSoon();
      await loadWaitlist().catch(() => undefined);
    },
  });
}

/** @param {GridAppointment} a */
async function checkIn(a) {
  await transition(a, `/v1/appointments/${encodeURIComponent(a.id)}/check-in`, "The check-in failed; please try again.");
}

/** POST a status change of the appointment and show its new status; on failure say why and
 * reload the grid (it may have changed meanwhile).
 * @param {GridAppointment} a @param {string} path @param {string} fallback */
async function transition(a, path, fallback) {
  $("error").textContent = "";
  try {
    const changed = await api("POST", path);
    a.status = changed.status;
    render();
  } catch (error) {
    $("error").textContent = explain(error, fallback);
    reloadSoon();
  }
}

/** Confirm (booked) or decline (its time is free again) a guest's booking request; the guest is
 * told by the clinic's notification either way.
 * @param {GridAppointment} a @param {"confirm" | "decline"} action */
async function decide(a, action) {
  const path = `/v1/booking-requests/${encodeURIComponent(a.id)}/${action}`;
  await transition(a, path, "The request could not be answered; please try again.");
}

/** @param {GridAppointment} a */
function openCancel(a) {
  selected = a;
  /** @type {HTMLFormElement} */ ($("cancel-form")).reset();
  $("cancel-who").textContent = `${nameOf(a)}, ${timeOf.format(new Date(a.start))}`;
  const options = (reasons.length ? reasons : FALLBACK_REASONS).map((r) => {
    const option = document.createElement("option");
    option.value = r.code;
    option.textContent = r.label;
    return option;
  });
  $("cancel-reason").replaceChildren(...options);
  $("cancel-error").textContent = "";
  /** @type {HTMLDialogElement} */ ($("cancel-dialog")).showModal();
}

/** @param {SubmitEvent} event */
async function submitCancel(event) {
  event.preventDefault();
  if (!selected) return;
  const data = new FormData(/** @type {HTMLFormElement} */ (event.target));
  const note = String(data.get("note") ?? "").trim();
  try {
    await api("POST", `/v1/appointments/${encodeURIComponent(selected.id)}/cancel`, {
      reason: String(data.get("reason")),
      ...(note ? { note } : {}),
    });
    /** @type {HTMLDialogElement} */ ($("cancel-dialog")).close();
    /** @type {HTMLFormElement} */ ($("cancel-form")).reset();
    reloadSoon();
  } catch (error) {
    $("cancel-error").textContent = explain(error, "The cancellation failed; please try again.");
  }
}

/** The value of a datetime-local input for an instant, in the viewer's zone.
 * @param {string} iso */
function localInput(iso) {
  const d = new Date(iso);
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** @param {GridAppointment} a @param {Column} column */
function openMove(a, column) {
  selected = a;
  $("move-who").textContent = nameOf(a);
  const form = /** @type {HTMLFormElement} */ ($("move-form"));
  /** @type {HTMLInputElement} */ (form.elements.namedItem("start")).value = localInput(a.start);
  const options = (grid?.specialists ?? []).map((s) => {
    const option = document.createElement("option");
    option.value = s.id;
    option.textContent = s.name;
    option.selected = s.id === column.id;
    return option;
  });
  $("move-specialist").replaceChildren(...options);
  $("move-error").textContent = "";
  /** @type {HTMLDialogElement} */ ($("move-dialog")).showModal();
}

/** @param {SubmitEvent} event */
async function submitMove(event) {
  event.preventDefault();
  if (!selected) return;
  const data = new FormData(/** @type {HTMLFormElement} */ (event.target));
  // datetime-local is read in the browser's zone, the zone the grid is shown in.
  const start = new Date(String(data.get("start")));
  if (Number.isNaN(start.getTime())) {
    $("move-error").textContent = "Please give the new start.";
    return;
  }
  try {
    await api("POST", `/v1/appointments/${encodeURIComponent(selected.id)}/reschedule`, {
      start: start.toISOString(),
      specialist_id: String(data.get("specialist_id") || "") || null,
    });
    /** @type {HTMLDialogElement} */ ($("move-dialog")).close();
    reloadSoon();
  } catch (error) {
    $("move-error").textContent = explain(error, "The appointment could not be moved; please try again.");
  }
}

/** @param {SubmitEvent} event */
async function submitWalkIn(event) {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const data = new FormData(form);
  /** @param {string} name */
  const text = (name) => String(data.get(name) ?? "").trim();
  /** @type {Record<string, string>} */
  const patient = { first_name: text("first_name"), last_name: text("last_name") };
  if (text("phone")) patient.phone = text("phone");
  if (text("email")) patient.email = text("email");
  $("walk-in-error").textContent = "";
  $("walk-in-done").textContent = "";
  /** @type {HTMLButtonElement} */ ($("walk-in-submit")).disabled = true;
  try {
    const answer = await api("POST", "/v1/walk-ins", {
      calendar_id: text("calendar_id"),
      patient,
      ...(text("visit_reason") ? { visit_reason: text("visit_reason") } : {}),
    });
    form.reset();
    $("walk-in-done").textContent =
      `${patient.first_name} ${patient.last_name} is checked in at ${timeOf.format(new Date(answer.appointment.start))}` +
      (answer.patient_created ? " (new patient)." : ".");
    reloadSoon();
  } catch (error) {
    $("walk-in-error").textContent = explain(error, "The walk-in could not be booked; please try again.");
  } finally {
    /** @type {HTMLButtonElement} */ ($("walk-in-submit")).disabled = false;
  }
}

async function loadChoices() {
  const [found, calendars] = await Promise.all([
    api("GET", "/v1/cancellation-reasons").catch(() => ({ data: [] })),
    api("GET", "/v1/calendars").catch(() => ({ data: [] })),
  ]);
  reasons = found.data;
  const options = /** @type {Array<{id: string, name: string}>} */ (calendars.data).map((c) => {
    const option = document.createElement("option");
    option.value = c.id;
    option.textContent = c.name;
    return option;
  });
  $("walk-in-calendar").replaceChildren(...options);
}

/** @param {string} value */
function setDay(value) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return;
  day = value;
  /** @type {HTMLInputElement} */ ($("date")).value = day;
  const url = new URL(location.href);
  url.searchParams.set("date", day);
  history.replaceState(null, "", url);
  grid = null;
  $("grid").replaceChildren();
  reloadSoon();
}

function showState() {
  const live = $("live");
  live.dataset.state = client.state;
  live.textContent = { idle: "…", connecting: "connecting…", open: "live", reconnecting: "reconnecting…", closed: "offline" }[client.state];
}

async function start() {
  const session = await refresh().catch(() => null);
  if (!session) {
    toSignIn();
    return;
  }
  if (!DESK_ROLES.has(session.role ?? "") || !session.organization_id) {
    $("error").textContent = "The front desk is for the clinic's administrators and receptionists.";
    $("live").textContent = "not available";
    return;
  }
  const orgId = session.organization_id;
  $("desk").hidden = false;
  $("day-controls").hidden = false;
  client.addEventListener("state", showState);
  /** @type {HTMLInputElement} */ ($("date")).value = day;
  $("zone").textContent = `Times are shown in ${zone}.`;
  $("date").addEventListener("change", (event) => setDay(/** @type {HTMLInputElement} */ (event.target).value));
  $("today").addEventListener("click", () => setDay(dateKey.format(new Date())));
  $("cancel-form").addEventListener("submit", (event) => void submitCancel(/** @type {SubmitEvent} */ (event)));
  $("cancel-close").addEventListener("click", () => /** @type {HTMLDialogElement} */ ($("cancel-dialog")).close());
  $("move-form").addEventListener("submit", (event) => void submitMove(/** @type {SubmitEvent} */ (event)));
  $("move-close").addEventListener("click", () => /** @type {HTMLDialogElement} */ ($("move-dialog")).close());
  $("walk-in-form").addEventListener("submit", (event) => void submitWalkIn(/** @type {SubmitEvent} */ (event)));

  void client.connect().catch(() => showState());
  // Subscribed before the grid is read, so no change between the two is missed.
  await follow(orgId);
  await Promise.all([reloadNow(), loadChoices(), loadWaitlist().catch(() => undefined)]);
}

start().catch(() => {
  $("error").textContent = "The front desk could not be loaded. Reload the page to try again.";
});
