// The patient's guided telerehab session (/session?assignment=<id>). The camera picture never
// leaves the device: MediaPipe Pose runs in the page (its script, WebAssembly and models are
// served by Cadence from the locked npm package, /static/mediapipe/pose/), and only the 33
// landmarks of each frame go to the server, batched, as binary `pose.landmarks` ops with the
// camera's aspect ratio. The server counts reps and checks form; its feedback comes back as the
// reply to each batch and as events on the patient's channel, shown on the board (rehab.js).
//
// `?source=/path.json` replays recorded landmark frames ({aspect, frames: [{t, landmarks}]},
// a path of this server) through the same send path instead of the camera, `?speed=` times
// faster: for tests and demonstrations, where no person stands in front of a camera.
// `window.cadenceTelerehab` holds the page's measurements (pose frames per second, the time
// from a frame's capture to the server's answer about it), read by `cadence bench telerehab_page`.
// @ts-check
import { CadenceClient } from "/static/js/cadence.js";
import { $, api, HttpError, SessionBoard, showConnection, socketUrl, toSignIn } from "/static/pages/rehab.js";
import { accessToken, refresh } from "/static/pages/session.js";

/** @typedef {import("/static/js/cadence.js").PoseFrame} PoseFrame */
/** @typedef {import("/static/pages/rehab.js").TelerehabSession} TelerehabSession */
/** @typedef {{x: number, y: number, z: number, visibility?: number}} Landmark */
/** @typedef {{poseLandmarks?: Landmark[]}} PoseResults */
/** @typedef {{setOptions(o: Record<string, unknown>): void, onResults(cb: (r: PoseResults) => void): void, initialize(): Promise<void>, send(i: {image: HTMLVideoElement}): Promise<void>, close(): Promise<void>}} PoseSolution */

const MEDIAPIPE = "/static/mediapipe/pose/";
const BATCH_MS = 100; // a batch at most every 100 ms: feedback stays quick, ops stay few
const MAX_BATCH = 30; // frames per op (the server takes up to 120)
const MAX_IN_FLIGHT = 4; // unanswered batches; beyond, frames wait (and the oldest are dropped)
const MAX_WAITING = 120;
const SKELETON = [[11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24],
  [23, 25], [25, 27], [24, 26], [26, 28], [27, 29], [28, 30], [27, 31], [28, 32]];

const params = new URLSearchParams(location.search);
const assignmentId = params.get("assignment");
const source = params.get("source");
const speed = Math.min(10, Math.max(0.1, Number(params.get("speed") ?? "1") || 1));

const client = new CadenceClient(socketUrl(), { token: accessToken });

/** What the page measured; the bench reads it. */
const stats = {
  mode: source ? "replay" : "camera",
  analysed: 0, // frames given to pose estimation (or replayed)
  found: 0, // frames in which a person was found
  sent: 0, // frames sent to the server
  dropped: 0, // frames dropped because the server was behind
  fps: 0, // pose estimation, frames per second over the last second or so
  poseMs: /** @type {number[]} */ ([]), // per frame: MediaPipe's time
  feedbackMs: /** @type {number[]} */ ([]), // per batch: capture of its last frame -> server reply
  errors: /** @type {string[]} */ ([]),
};
/** @type {any} */ (window).cadenceTelerehab = stats;

/** @type {PoseFrame[]} */
let waiting = [];
/** @type {number[]} */
let capturedAt = []; // performance.now() at capture, per waiting frame
let inFlight = 0;
/** @type {string | null} */
let sessionId = null;
let aspect = 16 / 9;
let running = false;
// Paused by the patient's button: frames wait. A pause the server made because frames stopped
// coming (the device dropped) is lifted by the next frames, so those are sent as ever.
let pausedByPatient = false;
/** @type {SessionBoard | null} */
let board = null;
/** @type {ReturnType<typeof setInterval> | undefined} */
let flusher;
/** @type {MediaStream | null} */
let stream = null;
/** @type {number[] | null} */
let drawPending = null;

/** @param {string} message */
function speak(message) {
  const box = /** @type {HTMLInputElement} */ ($("speak"));
  if (!box.checked || !("speechSynthesis" in window)) return;
  speechSynthesis.cancel();
  speechSynthesis.speak(new SpeechSynthesisUtterance(message));
}

/** @param {PoseFrame} frame @param {number} at */
function push(frame, at) {
  waiting.push(frame);
  capturedAt.push(at);
  if (waiting.length > MAX_WAITING) {
    const over = waiting.length - MAX_WAITING;
    waiting = waiting.slice(over);
    capturedAt = capturedAt.slice(over);
    stats.dropped += over;
  }
  draw(frame.landmarks);
}

function flush() {
  if (!running || !sessionId || !waiting.length || inFlight >= MAX_IN_FLIGHT) return;
  if (pausedByPatient) return;
  const frames = waiting.splice(0, MAX_BATCH);
  const times = capturedAt.splice(0, frames.length);
  const last = times[times.length - 1];
  inFlight += 1;
  stats.sent += frames.length;
  client
    .sendLandmarks(sessionId, frames, { aspect })
    .then((reply) => {
      stats.feedbackMs.push(performance.now() - last);
      if (stats.feedbackMs.length > 1000) stats.feedbackMs.shift();
      if (board && typeof reply.exercise_id === "string") board.status(/** @type {any} */ (reply));
    })
    .catch((error) => {
      const code = error?.code ?? "error";
      stats.errors.push(code);
      if (code === "session_ended" || code === "not_found") finish();
    })
    .finally(() => {
      inFlight -= 1;
    });
}

/** The skeleton of the last frame over the camera picture (one draw per animation frame).
 * @param {PoseFrame["landmarks"]} landmarks */
function draw(landmarks) {
  const first = drawPending === null;
  drawPending = Array.from(landmarks, (row) => Array.from(row)).flat();
  if (!first) return;
  requestAnimationFrame(() => {
    const flat = drawPending;
    drawPending = null;
    if (!flat) return;
    const canvas = /** @type {HTMLCanvasElement} */ ($("overlay"));
    const width = 640;
    const height = Math.round(width / aspect);
    if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
    const g = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    g.clearRect(0, 0, width, height);
    g.lineWidth = 4;
    g.strokeStyle = "#3ddbd0";
    /** @param {number} i */
    const seen = (i) => (flat[i * 4 + 3] ?? 0) > 0.5;
    for (const [a, b] of SKELETON) {
      if (!seen(a) || !seen(b)) continue;
      g.beginPath();
      g.moveTo(flat[a * 4] * width, flat[a * 4 + 1] * height);
      g.lineTo(flat[b * 4] * width, flat[b * 4 + 1] * height);
      g.stroke();
    }
  });
}

/** @param {unknown} error */
function cameraMessage(error) {
  const name = error instanceof DOMException ? error.name : "";
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Camera access was refused. Allow the camera for this site (the camera icon in the address bar) and press Start again.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") return "No camera was found. Connect a camera and press Start again.";
  if (name === "NotReadableError") return "The camera is in use by another application. Close it and press Start again.";
  if (!navigator.mediaDevices) return "This page needs a secure (https) connection to use the camera.";
  return "The camera could not be started. Press Start to try again.";
}

async function openCamera() {
  if (!navigator.mediaDevices?.getUserMedia) throw new DOMException("no media devices", "SecurityError");
  stream = await navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
    audio: false,
  });
  const video = /** @type {HTMLVideoElement} */ ($("camera"));
  video.srcObject = stream;
  await video.play();
  if (video.videoWidth && video.videoHeight) aspect = video.videoWidth / video.videoHeight;
}

/** MediaPipe Pose's loader is a classic script that defines `window.Pose`. @returns {Promise<PoseSolution>} */
async function loadPose() {
  await new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = `${MEDIAPIPE}pose.js`;
    script.onload = resolve;
    script.onerror = () => reject(new Error("MediaPipe Pose could not be loaded"));
    document.head.append(script);
  });
  const Pose = /** @type {any} */ (window).Pose;
  /** @type {PoseSolution} */
  const pose = new Pose({ locateFile: (/** @type {string} */ file) => `${MEDIAPIPE}${file}` });
  // Complexity 1 ("full"): the model the server's frame path uses, so both measure alike.
  pose.setOptions({ modelComplexity: 1, smoothLandmarks: true, enableSegmentation: false,
    minDetectionConfidence: 0.5, minTrackingConfidence: 0.5 });
  await pose.initialize();
  return pose;
}

/** @param {PoseSolution} pose */
async function estimate(pose) {
  const video = /** @type {HTMLVideoElement} */ ($("camera"));
  const status = $("pose-status");
  let capture = { t: 0, at: 0 };
  let windowStart = performance.now();
  let windowFrames = 0;
  let lastFound = performance.now();
  pose.onResults((results) => {
    stats.analysed += 1;
    const found = results.poseLandmarks;
    if (found && found.length === 33) {
      stats.found += 1;
      lastFound = performance.now();
      push({ t: capture.t, landmarks: found.map((l) => [l.x, l.y, l.z, l.visibility ?? 0]) }, capture.at);
    }
  });
  status.dataset.pose = "ready";
  while (running) {
    // Idle while paused (nothing would be sent) or before the camera has a picture.
    if (video.readyState < 2 || pausedByPatient) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    capture = { t: Date.now(), at: performance.now() };
    await pose.send({ image: video });
    stats.poseMs.push(performance.now() - capture.at);
    if (stats.poseMs.length > 1000) stats.poseMs.shift();
    windowFrames += 1;
    const now = performance.now();
    if (now - windowStart >= 1000) {
      stats.fps = (windowFrames * 1000) / (now - windowStart);
      windowStart = now;
      windowFrames = 0;
    }
    status.dataset.analysed = String(stats.analysed);
    status.dataset.found = String(stats.found);
    status.textContent = `Pose estimation on this device: ${stats.fps.toFixed(stats.fps < 10 ? 2 : 0)} frames/s`;
    $("tracking").textContent = now - lastFound > 2000 ? "The camera does not see you yet: step back until your whole body is in view." : "";
    // MediaPipe holds the main thread while it works. Where a frame takes longer than the
    // camera's 33 ms (no GPU), wait about as long before the next, so the page stays usable.
    const spent = performance.now() - capture.at;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, spent - 33)));
  }
  await pose.close();
}

/** Recorded frames through the same path as the camera's (see the top of this file).
 * @param {string} path */
async function replay(path) {
  const url = new URL(path, location.href);
  if (url.origin !== location.origin) throw new Error("source must be a path of this server");
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`source answered ${response.status}`);
  /** @type {{aspect?: number, frames: PoseFrame[]}} */
  const recording = await response.json();
  const frames = recording.frames;
  if (!frames.length) return;
  aspect = recording.aspect ?? aspect;
  const t0 = frames[0].t;
  const step = frames.length > 1 ? frames[1].t - frames[0].t : 33;
  const span = frames[frames.length - 1].t - t0 + step;
  const base = Date.now();
  const start = performance.now();
  $("pose-status").textContent = "Replaying recorded movement";
  for (let loop = 0, i = 0; running; ) {
    const offset = frames[i].t - t0 + loop * span; // recorded ms since the start
    const wait = start + offset / speed - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    stats.analysed += 1;
    stats.found += 1;
    push({ t: base + offset, landmarks: frames[i].landmarks }, performance.now());
    i += 1;
    if (i === frames.length) [i, loop] = [0, loop + 1];
  }
}

function stopInput() {
  running = false;
  clearInterval(flusher);
  for (const track of stream?.getTracks() ?? []) track.stop();
  stream = null;
}

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  stopInput();
  $("pause").hidden = true;
  $("done").hidden = true;
  if (board && $("state").dataset.state === "completed") {
    $("questionnaire").hidden = false;
    speak("Well done. The session is complete.");
  }
}

/** @param {unknown} error */
function startMessage(error) {
  if (!(error instanceof HttpError)) return "The session could not be started. Press Start to try again.";
  if (error.status === 404) return "This exercise plan was not found for you.";
  if (error.code === "consent_required") return "Camera sessions need your consent first: ask your clinic.";
  if (error.status === 409) return `The session cannot start: ${error.message}`;
  return `The session could not be started: ${error.message}`;
}

async function begin() {
  const button = /** @type {HTMLButtonElement} */ ($("start"));
  button.disabled = true;
  $("error").textContent = "";
  try {
    // The camera first: refused, no session is started.
    if (!source) await openCamera();
  } catch (error) {
    $("error").textContent = cameraMessage(error);
    button.disabled = false;
    return;
  }
  /** @type {TelerehabSession} */
  let session;
  try {
    session = await api("POST", "/v1/telerehab/sessions", { assignment_id: assignmentId });
  } catch (error) {
    stopInput();
    $("error").textContent = startMessage(error);
    button.disabled = false;
    return;
  }
  sessionId = session.id;
  document.documentElement.dataset.session = session.id;
  board = new SessionBoard(session, { onCue: speak, onEnd: finish });
  $("intro").hidden = true;
  $("board").hidden = false;
  const live = $("live");
  client.addEventListener("state", () => showConnection(live, client.state));
  await client.connect();
  // Subscribed before the first frame: no feedback about it can be missed.
  await client.subscribe(session.channel, {
    onEvent: (event) => board?.apply(event),
    onResync: async () => {
      const now = await api("GET", `/v1/telerehab/sessions/${session.id}`);
      if (now.current) board?.status(now.current);
    },
  });
  running = true;
  flusher = setInterval(flush, BATCH_MS);
  if (source) {
    $("camera").hidden = true;
    await replay(source);
    return;
  }
  $("pose-status").textContent = "Loading pose estimation…";
  await estimate(await loadPose());
}

async function control() {
  if (!sessionId || !board) return;
  const paused = pausedByPatient;
  const reply = await client.session(sessionId, paused ? "resume" : "pause");
  pausedByPatient = !paused;
  const current = /** @type {any} */ (reply).current;
  if (current) board.status(current);
  else board.state(paused ? "active" : "paused");
  $("pause").textContent = paused ? "Pause" : "Resume";
}

/** @param {SubmitEvent} event */
async function answer(event) {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const data = new FormData(form);
  const note = String(data.get("note") ?? "").trim();
  try {
    await api("POST", `/v1/telerehab/sessions/${sessionId}/questionnaire`, {
      pain: Number(data.get("pain")),
      difficulty: Number(data.get("difficulty")),
      note: note || null,
    });
    form.hidden = true;
    $("thanks").hidden = false;
  } catch (error) {
    $("questionnaire-error").textContent = error instanceof HttpError ? error.message : "Could not send; try again.";
  }
}

async function start() {
  const signedIn = await refresh().catch(() => null);
  if (!signedIn) {
    toSignIn();
    return;
  }
  if (signedIn.role !== "patient") {
    $("error").textContent = "This page is for patients. Clinicians follow a session on its live view (/watch?session=…).";
    return;
  }
  if (!assignmentId || !/^[0-9a-f-]{36}$/i.test(assignmentId)) {
    $("error").textContent = "Open this page from the link of your exercise plan (it names the plan).";
    return;
  }
  $("intro").hidden = false;
  $("start").addEventListener("click", () => {
    begin().catch((error) => {
      stats.errors.push(String(error?.message ?? error));
      $("error").textContent = "The session stopped unexpectedly. Reload the page to continue.";
    });
  });
  $("pause").addEventListener("click", () => void control().catch(() => undefined));
  $("done").addEventListener("click", () => {
    if (sessionId) void client.session(sessionId, "done").catch(() => undefined);
  });
  $("questionnaire-form").addEventListener("submit", (event) => void answer(/** @type {SubmitEvent} */ (event)));
}

start().catch(() => {
  $("error").textContent = "The page could not be loaded. Reload it to try again.";
});
