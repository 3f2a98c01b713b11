// What the patient's telerehab page (/session) and the clinician's live view (/watch) share:
// REST with the in-memory token, and the board that shows a session's exercise, set, reps,
// range of motion, cues and rests from the session's answer and from its events on the
// patient's channel (`exercise.started`, `rep.counted`, `form.cue`, `set.completed`,
// `rest.started`, `tracking.lost`/`ok`, `session.*`), and the skeleton drawing both use.
// @ts-check
import { accessToken } from "/static/pages/session.js";

/** @typedef {{exercise_id: string, name: string, sets: number, reps: number, rest_s: number, tracked?: boolean}} PlannedExercise */
/** @typedef {{state: string, exercise_id: string, set: number, sets: number, reps: number, target_reps: number, rest_until_ms?: number, pause_reason?: string}} Current */
/** @typedef {{id: string, patient_id: string, status: string, channel: string, current: Current | null, exercises: PlannedExercise[], summary?: unknown}} TelerehabSession */

/** @param {string} id @returns {HTMLElement} */
export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

export class HttpError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function toSignIn() {
  location.assign(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
}

/** A REST call with the in-memory access token; signed out, the visitor goes to /signin.
 * @param {string} method @param {string} path @param {unknown} [body] @returns {Promise<any>} */
export async function api(method, path, body) {
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

/** The bones drawn between MediaPipe Pose's landmarks (face and hands left out). */
const BONES = [[11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24],
  [23, 25], [25, 27], [24, 26], [26, 28], [27, 29], [28, 30], [27, 31], [28, 32]];

/**
 * Draws a skeleton on `canvas`: `points` are 33 [x, y] normalised to an image of `aspect`
 * (width / height), null where a landmark was not seen. Records on the canvas how many points
 * it drew (`data-points`) and how many skeletons so far (`data-frames`).
 * @param {HTMLCanvasElement} canvas @param {ArrayLike<[number, number] | null>} points @param {number} aspect
 */
export function drawSkeleton(canvas, points, aspect) {
  const width = 640;
  const height = Math.round(width / (aspect > 0 ? aspect : 16 / 9));
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  const g = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  g.clearRect(0, 0, width, height);
  g.lineWidth = 4;
  g.strokeStyle = "#3ddbd0";
  for (const [a, b] of BONES) {
    const p = points[a];
    const q = points[b];
    if (!p || !q) continue;
    g.beginPath();
    g.moveTo(p[0] * width, p[1] * height);
    g.lineTo(q[0] * width, q[1] * height);
    g.stroke();
  }
  let seen = 0;
  g.fillStyle = "#ffffff";
  for (let i = 11; i < points.length; i++) {
    const p = points[i];
    if (!p) continue;
    seen += 1;
    g.fillRect(p[0] * width - 3, p[1] * height - 3, 6, 6);
  }
  canvas.dataset.points = String(seen);
  canvas.dataset.frames = String(Number(canvas.dataset.frames ?? "0") + 1);
}

/** `ws:` or `wss:` URL of the Cadence WebSocket of this server. */
export function socketUrl() {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/v1/ws`;
}

const STATES = /** @type {Record<string, string>} */ ({
  active: "exercising",
  resting: "resting",
  paused: "paused",
  completed: "completed",
  abandoned: "ended",
});
const LIVE = /** @type {Record<string, string>} */ ({
  idle: "…",
  connecting: "connecting…",
  open: "live",
  reconnecting: "reconnecting…",
  closed: "offline",
});

/** @param {HTMLElement} element @param {string} state */
export function showConnection(element, state) {
  element.dataset.state = state;
  element.textContent = LIVE[state] ?? state;
}

/**
 * The live board of one session. Every element is optional except those the page has; the
 * event log (`#log`) keeps the newest events first, a bounded number of them.
 */
export class SessionBoard {
  /** @param {TelerehabSession} session @param {{onCue?: (message: string) => void, onEnd?: (status: string) => void}} [hooks] */
  constructor(session, hooks = {}) {
    this.session = session;
    this.hooks = hooks;
    /** @type {Map<string, PlannedExercise>} */
    this.exercises = new Map(session.exercises.map((e) => [e.exercise_id, e]));
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.restTimer = undefined;
    this.target = 0;
    if (session.current) this.status(session.current);
    this.state(session.status);
  }

  /** The `current` of the session's answer or of a pose reply. @param {Current} current */
  status(current) {
    const exercise = this.exercises.get(current.exercise_id);
    if (exercise) $("exercise").textContent = exercise.name;
    this.target = current.target_reps;
    $("set").textContent = `${current.set} of ${current.sets}`;
    this.reps(current.reps);
    this.state(current.state);
    if (current.state === "resting" && current.rest_until_ms) this.rest(current.rest_until_ms);
  }

  /** @param {number} count */
  reps(count) {
    const reps = $("reps");
    reps.dataset.reps = String(count);
    reps.textContent = `${count} / ${this.target}`;
  }

  /** @param {string} state */
  state(state) {
    const el = $("state");
    el.dataset.state = state;
    el.textContent = STATES[state] ?? state;
  }

  /** A rest that ends at `untilMs` (wall clock). @param {number} untilMs */
  rest(untilMs) {
    clearInterval(this.restTimer);
    const el = $("rest");
    const tick = () => {
      const left = Math.max(0, Math.ceil((untilMs - Date.now()) / 1000));
      el.textContent = left > 0 ? `Rest: ${left} s` : "";
      if (left <= 0) clearInterval(this.restTimer);
    };
    tick();
    this.restTimer = setInterval(tick, 250);
  }

  /** @param {string} type @param {Record<string, any>} data */
  log(type, data) {
    const log = document.getElementById("log");
    if (!log) return;
    const item = document.createElement("li");
    item.dataset.type = type;
    item.textContent = describe(type, data);
    log.prepend(item);
    while (log.children.length > 50) log.lastElementChild?.remove();
  }

  /** One event of the patient's channel (others' sessions are ignored).
   * @param {{type: string, data: unknown}} event */
  apply(event) {
    const data = /** @type {Record<string, any>} */ (event.data ?? {});
    if (data.session_id !== this.session.id) return;
    this.log(event.type, data);
    switch (event.type) {
      case "exercise.started": {
        clearInterval(this.restTimer);
        $("rest").textContent = "";
        $("exercise").textContent = data.name ?? this.exercises.get(data.exercise_id)?.name ?? "";
        $("set").textContent = `${data.set} of ${data.sets ?? this.exercises.get(data.exercise_id)?.sets ?? "?"}`;
        this.target = data.target_reps;
        this.reps(0);
        this.state("active");
        if (data.tracked === false) $("cue").textContent = "This exercise is not tracked: press Done when you finish.";
        break;
      }
      case "rep.counted":
        this.reps(data.rep);
        if (typeof data.rom_deg === "number") $("rom").textContent = `${data.rom_deg.toFixed(0)}°`;
        break;
      case "form.cue":
        $("cue").textContent = data.message;
        $("cue").dataset.severity = data.severity ?? "";
        this.hooks.onCue?.(data.message);
        break;
      case "set.completed":
        $("cue").textContent = `Set done: ${data.reps} reps.`;
        break;
      case "rest.started":
        this.state("resting");
        this.rest(Date.now() + data.seconds * 1000);
        this.hooks.onCue?.(`Rest for ${data.seconds} seconds.`);
        break;
      case "tracking.lost":
        $("tracking").textContent = "Step back into view of the camera.";
        this.hooks.onCue?.("Step back into view.");
        break;
      case "tracking.ok":
        $("tracking").textContent = "";
        break;
      case "session.paused":
        this.state("paused");
        break;
      case "session.resumed":
        this.state("active");
        break;
      case "session.completed":
      case "session.abandoned":
        clearInterval(this.restTimer);
        $("rest").textContent = "";
        this.state(event.type === "session.completed" ? "completed" : "abandoned");
        this.hooks.onEnd?.(event.type);
        break;
    }
  }
}

/** @param {string} type @param {Record<string, any>} data */
function describe(type, data) {
  switch (type) {
    case "rep.counted":
      return `Rep ${data.rep} (set ${data.set})${typeof data.rom_deg === "number" ? `, ${data.rom_deg.toFixed(0)}°` : ""}`;
    case "form.cue":
      return `Cue: ${data.message}`;
    case "exercise.started":
      return `${data.name ?? "Exercise"}: set ${data.set}, ${data.target_reps} reps`;
    case "set.completed":
      return `Set ${data.set} done: ${data.reps} reps`;
    case "rest.started":
      return `Rest ${data.seconds} s`;
    default:
      return type.replace(".", " ");
  }
}
