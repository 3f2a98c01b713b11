// The patient's guided telerehab session (/session?assignment=<id>). The camera picture never
// leaves the device: MediaPipe Pose runs in the page (its script, WebAssembly and models are
// served by Cadence from the locked npm package, /static/mediapipe/pose/), and only the 33
// landmarks of each frame go to the server, batched, as binary `pose.landmarks` ops with the
// camera's aspect ratio. The server counts reps and checks form; its feedback comes back as the
// reply to each batch and as events on the patient's channel, shown on the board (rehab.js).
//
// Where MediaPipe cannot run here (it fails to load) or is too slow to be useful (over
// SLOW_MS a frame, measured on the first frames), the page falls back to the server: it sends a
// few JPEG camera images a second as binary `pose.frame` ops, the server estimates the pose, and
// the skeleton it found comes back as `pose.skeleton` (an ephemeral event of the channel). The
// page says which mode it uses (#pose-status, data-mode). `?pose=browser` or `?pose=server`
// forces a mode (tests; a user who prefers one).
//
// `?source=/path.json` replays recorded landmark frames ({aspect, frames: [{t, landmarks}]},
// a path of this server) through the same send path instead of the camera, `?speed=` times
// faster: for tests and demonstrations, where no person stands in front of a camera.
// `window.cadenceTelerehab` holds the page's measurements (pose frames per second, the time
// from a frame's capture to the server's answer about it), read by `cadence bench telerehab_page`.
// @ts-check
import { CadenceClient } from "/static/js/cadence.js";
import { $, api, drawSkeleton, HttpError, SessionBoard, showConnection, socketUrl, toSignIn } from "/static/pages/rehab.js";
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
const SLOW_MS = 250; // MediaPipe slower than this a frame (median of the probe): the server's turn
const PROBE_FRAMES = 3; // frames measured after the first (which warms the graph up)
const SERVER_FPS = 4; // camera images a second in server mode
const SERVER_IN_FLIGHT = 2; // unanswered images; beyond, the next capture is skipped
const JPEG_WIDTH = 480;
const JPEG_QUALITY = 0.7;

const params = new URLSearchParams(location.search);
const assignmentId = params.get("assignment");
const source = params.get("source");
const speed = Math.min(10, Math.max(0.1, Number(params.get("speed") ?? "1") || 1));
const forced = params.get("pose") === "server" || params.get("pose") === "browser" ? params.get("pose") : null;

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
  pose: /** @type {"browser" | "server" | null} */ (null), // where pose estimation runs
  fallback: /** @type {string | null} */ (null), // why the server's, when not asked for
  images: 0, // JPEG images sent (server mode)
  skeletons: 0, // skeletons received from the server (server mode)
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
/** @type {{points: Array<[number, number] | null>, aspect: number} | null} */
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
  show(Array.from(landmarks, (row) => ((row[3] ?? 0) > 0.5 ? /** @type {[number, number]} */ ([row[0], row[1]]) : null)), aspect);
}

/** @param {Array<[number, number] | null>} points @param {number} ofAspect */
function show(points, ofAspect) {
  const first = drawPending === null;
  drawPending = { points, aspect: ofAspect };
  if (!first) return;
  requestAnimationFrame(() => {
    const pending = drawPending;
    drawPending = null;
    if (pending) drawSkeleton(/** @type {HTMLCanvasElement} */ ($("overlay")), pending.points, pending.aspect);
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

/** MediaPipe in the page until the session ends; "slow" when it gave up on the probe (over
 * SLOW_MS a frame and no mode forced): the caller then switches to the server.
 * @param {PoseSolution} pose @returns {Promise<"ended" | "slow">} */
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
  status.dataset.mode = "browser";
  stats.pose = "browser";
  /** @type {number[]} */
  const probe = [];
  while (running) {
    // Idle while paused (nothing would be sent) or before the camera has a picture.
    if (video.readyState < 2 || pausedByPatient) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    capture = { t: Date.now(), at: performance.now() };
    await pose.send({ image: video });
    const took = performance.now() - capture.at;
    stats.poseMs.push(took);
    if (stats.poseMs.length > 1000) stats.poseMs.shift();
    if (forced === null && probe.length <= PROBE_FRAMES) {
      probe.push(took);
      const measured = probe.slice(1).sort((a, b) => a - b);
      if (measured.length === PROBE_FRAMES && measured[PROBE_FRAMES >> 1] > SLOW_MS) {
        await pose.close();
        return "slow";
      }
    }
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
  return "ended";
}

/** One camera image as JPEG, scaled down to JPEG_WIDTH; null if the camera gave none.
 * @param {HTMLVideoElement} video @param {HTMLCanvasElement} canvas @returns {Promise<ArrayBuffer | null>} */
async function jpegOf(video, canvas) {
  const width = Math.min(JPEG_WIDTH, video.videoWidth || JPEG_WIDTH);
  const height = Math.round(width / aspect);
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d")).drawImage(video, 0, 0, width, height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
  return blob ? /** @type {Blob} */ (blob).arrayBuffer() : null;
}

/** The server's pose estimation: SERVER_FPS images a second as binary `pose.frame` ops, at
 * most SERVER_IN_FLIGHT unanswered (a capture is skipped, not queued, while the server is
 * behind). The skeleton comes back as `pose.skeleton` events (see `begin`).
 * @param {"asked" | "slow" | "unavailable"} why */
async function serverFrames(why) {
  stats.pose = "server";
  stats.fallback = why === "asked" ? null : why;
  const status = $("pose-status");
  status.dataset.mode = "server";
  status.dataset.pose = "ready";
  const reason = { asked: "", slow: " (too slow on this device)", unavailable: " (it cannot run on this device)" }[why];
  status.textContent = `Pose estimation on the server${reason}: a few camera images a second go to your clinic.`;
  const video = /** @type {HTMLVideoElement} */ ($("camera"));
  const canvas = document.createElement("canvas");
  let unanswered = 0;
  while (running) {
    const began = performance.now();
    if (video.readyState >= 2 && !pausedByPatient && sessionId && unanswered < SERVER_IN_FLIGHT) {
      const jpeg = await jpegOf(video, canvas);
      if (jpeg && running) {
        unanswered += 1;
        stats.images += 1;
        client
          .sendFrame(sessionId, jpeg, Date.now())
          .catch((error) => {
            const code = error?.code ?? "error";
            stats.errors.push(code);
            if (code === "session_ended" || code === "not_found") finish();
          })
          .finally(() => {
            unanswered -= 1;
          });
      }
    }
    const wait = 1000 / SERVER_FPS - (performance.now() - began);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
  }
}

/** A `pose.skeleton` of this session (server mode): drawn, and counted as a found pose.
 * @param {{type: string, data: unknown}} event */
function skeletonEvent(event) {
  const data = /** @type {{session_id?: string, aspect?: number, points?: Array<[number, number] | null>}} */ (event.data ?? {});
  if (event.type !== "pose.skeleton" || stats.pose !== "server" || data.session_id !== sessionId || !data.points) return;
  stats.skeletons += 1;
  stats.found += 1;
  stats.analysed += 1;
  const status = $("pose-status");
  status.dataset.found = String(stats.found);
  show(data.points, data.aspect ?? aspect);
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
    onEphemeral: skeletonEvent,
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
  if (forced === "server") {
    await serverFrames("asked");
    return;
  }
  $("pose-status").textContent = "Loading pose estimation…";
  /** @type {PoseSolution} */
  let pose;
  try {
    pose = await loadPose();
  } catch (error) {
    if (forced === "browser") throw error;
    await serverFrames("unavailable");
    return;
  }
  if ((await estimate(pose)) === "slow") await serverFrames("slow");
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
