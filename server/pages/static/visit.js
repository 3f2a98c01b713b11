// A virtual visit's video room (/visit?appointment=<id>): WebRTC between the appointment's
// patient and specialist, peer to peer, with the signalling (offer, answer, ICE candidates)
// carried over the Cadence WebSocket on the room's channel `visit:<id>`, which only those two
// may join. The specialist makes the offer (one per attendance of the patient), the patient
// answers: a fixed offerer means no glare. Signed out, the page sends the visitor to /signin.
// @ts-check
import { CadenceClient } from "/static/js/cadence.js";
import { accessToken } from "/static/pages/session.js";

/** @typedef {{urls: string[], username?: string, credential?: string}} IceServer */
/** @typedef {{kind: string, channel: string | null, ice_servers: IceServer[], join_url: string | null}} Room */
/** @typedef {{appointment_id: string, state: string, role: string | null, opens_at: string, closes_at: string, room: Room | null}} VisitAnswer */
/** @typedef {{from: string, kind: string, sdp?: string, candidate?: RTCIceCandidateInit}} Signal */

/** @param {string} id @returns {HTMLElement} */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const appointmentId = new URLSearchParams(location.search).get("appointment") ?? "";
const timeOf = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

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

/** @param {string} text */
function say(text) {
  $("status").textContent = text;
}

/** @param {string} path @returns {Promise<any>} */
async function get(path) {
  const token = await accessToken();
  if (!token) {
    toSignIn();
    throw new HttpError(401, "signed_out", "signed out");
  }
  const response = await fetch(path, { headers: { Accept: "application/json", Authorization: `Bearer ${token}` } });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? { code: "http_error", message: response.statusText };
    throw new HttpError(response.status, error.code, error.message);
  }
  return data;
}

const client = new CadenceClient(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/v1/ws`, {
  token: accessToken,
});

/** @type {RTCPeerConnection | null} */
let pc = null;
/** @type {MediaStream | null} */
let local = null;
let role = "";
/** @type {IceServer[]} */
let iceServers = [];
/** The patient's attendance the specialist last made an offer to. */
let offeredTo = "";
/** Candidates that arrived before the remote description they belong to. */
/** @type {RTCIceCandidateInit[]} */
let early = [];
let joined = false;

/** @param {string} state */
function showPeer(state) {
  const peer = $("peer");
  peer.dataset.state = state;
  peer.textContent = { new: "waiting…", connecting: "connecting…", connected: "connected", disconnected: "reconnecting…", failed: "connection failed", closed: "ended" }[state] ?? state;
}

/** @param {Record<string, unknown>} fields */
async function signal(fields) {
  await client.call("visit.signal", { appointment_id: appointmentId, ...fields });
}

function newPeer() {
  pc?.close();
  early = [];
  const peer = new RTCPeerConnection({ iceServers });
  pc = peer;
  for (const track of local?.getTracks() ?? []) peer.addTrack(track, /** @type {MediaStream} */ (local));
  peer.addEventListener("icecandidate", (e) => {
    if (e.candidate && peer === pc) void signal({ kind: "candidate", candidate: e.candidate.toJSON() }).catch(report);
  });
  peer.addEventListener("track", (e) => {
    const remote = /** @type {HTMLVideoElement} */ ($("remote"));
    if (remote.srcObject !== e.streams[0]) remote.srcObject = e.streams[0] ?? new MediaStream([e.track]);
  });
  peer.addEventListener("connectionstatechange", () => {
    if (peer === pc) showPeer(peer.connectionState);
  });
  showPeer("connecting");
  return peer;
}

/** The specialist offers to the patient's attendance `to`, once. @param {string} to */
async function offer(to) {
  if (role !== "specialist" || !to || to === offeredTo) return;
  offeredTo = to;
  const peer = newPeer();
  await peer.setLocalDescription(await peer.createOffer());
  await signal({ kind: "offer", sdp: peer.localDescription?.sdp });
}

/** @param {Signal} data */
async function onSignal(data) {
  if (data.from === role) return; // our own, echoed by the channel
  if (data.kind === "offer" && role === "patient") {
    const peer = newPeer(); // a new offer is a new call (the specialist joined again)
    await peer.setRemoteDescription({ type: "offer", sdp: data.sdp });
    await flushCandidates(peer);
    await peer.setLocalDescription(await peer.createAnswer());
    await signal({ kind: "answer", sdp: peer.localDescription?.sdp });
  } else if (data.kind === "answer" && role === "specialist" && pc?.signalingState === "have-local-offer") {
    await pc.setRemoteDescription({ type: "answer", sdp: data.sdp });
    await flushCandidates(pc);
  } else if (data.kind === "candidate" && data.candidate) {
    if (pc?.remoteDescription) await pc.addIceCandidate(data.candidate);
    else early.push(data.candidate);
  }
}

/** @param {RTCPeerConnection} peer */
async function flushCandidates(peer) {
  const waiting = early;
  early = [];
  for (const candidate of waiting) await peer.addIceCandidate(candidate);
}

/** @param {import("/static/js/cadence.js").CadenceEvent} e */
function onEvent(e) {
  const data = /** @type {any} */ (e.data);
  if (e.type === "visit.signal") {
    void onSignal(data).catch(report);
  } else if (e.type === "visit.joined" && data.role !== role) {
    say("The other person is here.");
    void offer(data.attendance_id).catch(report);
  } else if (e.type === "visit.left" && data.role !== role) {
    say("The other person left; they can come back while the room is open.");
    pc?.close();
    pc = null;
    offeredTo = "";
    /** @type {HTMLVideoElement} */ ($("remote")).srcObject = null;
    showPeer("new");
  }
}

/** @param {unknown} error */
function report(error) {
  $("error").textContent = error instanceof Error ? error.message : String(error);
}

async function join() {
  const result = /** @type {any} */ (await client.call("visit.join", { appointment_id: appointmentId }));
  joined = true;
  say(result.peer_present ? "The other person is here." : "Waiting for the other person to join…");
  if (result.peer_attendance_id) await offer(result.peer_attendance_id);
}

async function leave() {
  if (joined) await client.call("visit.leave", { appointment_id: appointmentId }).catch(() => {});
  joined = false;
  pc?.close();
  pc = null;
  for (const track of local?.getTracks() ?? []) track.stop();
  showPeer("closed");
  say("You left the visit.");
  $("leave").hidden = true;
  await client.close();
}

/** What the remote video is receiving (getStats), shown under the videos. */
async function showStats() {
  if (!pc) return;
  const stats = await pc.getStats();
  stats.forEach((report) => {
    if (report.type === "inbound-rtp" && report.kind === "video") {
      const el = $("stats");
      el.dataset.frames = String(report.framesDecoded ?? 0);
      el.textContent = `Receiving ${report.frameWidth ?? "?"}×${report.frameHeight ?? "?"}, ${report.framesDecoded ?? 0} frames`;
    }
  });
}

async function main() {
  if (!/^[0-9a-f-]{36}$/i.test(appointmentId)) {
    say("");
    report("This link names no visit.");
    return;
  }
  /** @type {VisitAnswer} */
  let visit;
  try {
    visit = await get(`/v1/appointments/${appointmentId}/visit`);
  } catch (error) {
    if (error instanceof HttpError && error.code === "signed_out") return;
    say("");
    if (error instanceof HttpError && error.status === 404) report("There is no such visit for you.");
    else if (error instanceof HttpError && error.code === "not_virtual") report("This appointment is in the clinic, not a video visit.");
    else report(error instanceof Error ? error.message : String(error));
    return;
  }
  if (!visit.role) {
    say("");
    $("peer").hidden = true;
    report("This video room is only for the appointment's patient and specialist.");
    return;
  }
  if (visit.state === "scheduled") {
    say(`The room opens at ${timeOf.format(new Date(visit.opens_at))}. This page joins by itself then.`);
    const wait = Math.max(1000, new Date(visit.opens_at).getTime() - Date.now() + 1000);
    setTimeout(() => location.reload(), Math.min(wait, 2 ** 31 - 1));
    return;
  }
  if (visit.state !== "open" || !visit.room) {
    say(visit.state === "cancelled" ? "This appointment was cancelled." : "This visit has ended.");
    return;
  }
  role = visit.role;
  iceServers = visit.room.ice_servers;
  $("remote-label").textContent = role === "patient" ? "Your specialist" : "Your patient";
  try {
    local = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch {
    say("");
    report("The camera or microphone is not available; allow them and reload the page.");
    return;
  }
  /** @type {HTMLVideoElement} */ ($("local")).srcObject = local;
  $("videos").hidden = false;
  $("leave").hidden = false;
  $("leave").addEventListener("click", () => void leave());
  await client.connect();
  // Subscribed before joining, so the other party's join is never missed.
  await client.subscribe(/** @type {string} */ (visit.room.channel), { onEvent });
  await join();
  client.addEventListener("state", () => {
    // A new connection is a new membership: join again (the server closes the old attendance).
    if (client.state === "open" && joined) void join().catch(report);
  });
  addEventListener("pagehide", () => {
    if (joined) void client.call("visit.leave", { appointment_id: appointmentId }).catch(() => {});
  });
  setInterval(() => void showStats(), 1000);
}

void main().catch(report);
