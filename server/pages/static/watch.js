// A clinician's live view of a patient's telerehab session (/watch?session=<id>): the session's
// state from GET /v1/telerehab/sessions/{id}, then its events on the patient's channel as they
// happen (reps, range of motion, cues, sets, rests), and the patient's skeleton as it moves
// (`pose.skeleton`, an ephemeral event of the same channel, at most 10 a second, never stored:
// nothing to draw until the patient moves). The server decides who may look: the
// session's read and the channel's subscription both require the patient's clinician (or an
// admin of the clinic); anyone else is told so and sees nothing.
// @ts-check
import { CadenceClient } from "/static/js/cadence.js";
import { $, api, drawSkeleton, HttpError, SessionBoard, showConnection, socketUrl, toSignIn } from "/static/pages/rehab.js";
import { accessToken, refresh } from "/static/pages/session.js";

/** @typedef {import("/static/pages/rehab.js").TelerehabSession} TelerehabSession */
/** @typedef {import("/static/js/cadence.js").PoseSkeleton} PoseSkeleton */

const sessionId = new URLSearchParams(location.search).get("session");
const client = new CadenceClient(socketUrl(), { token: accessToken });

/** @type {PoseSkeleton | null} */
let pending = null;

/** The latest skeleton of this session, drawn once per animation frame.
 * @param {{type: string, data: unknown}} event */
function skeleton(event) {
  const data = /** @type {PoseSkeleton} */ (event.data);
  if (event.type !== "pose.skeleton" || data?.session_id !== sessionId || !Array.isArray(data.points)) return;
  const first = pending === null;
  pending = data;
  if (!first) return;
  requestAnimationFrame(() => {
    const latest = pending;
    pending = null;
    if (latest) drawSkeleton(/** @type {HTMLCanvasElement} */ ($("skeleton")), latest.points, latest.aspect);
  });
}

async function start() {
  const signedIn = await refresh().catch(() => null);
  if (!signedIn) {
    toSignIn();
    return;
  }
  if (!sessionId || !/^[0-9a-f-]{36}$/i.test(sessionId)) {
    $("error").textContent = "Open this page from a session's link (it names the session).";
    return;
  }
  /** @type {TelerehabSession} */
  let session;
  try {
    session = await api("GET", `/v1/telerehab/sessions/${sessionId}`);
  } catch (error) {
    const status = error instanceof HttpError ? error.status : 0;
    $("error").textContent =
      status === 404 || status === 403
        ? "This session was not found, or it is not one of your patients'."
        : "The session could not be loaded. Reload the page to try again.";
    return;
  }
  const board = new SessionBoard(session);
  $("patient").textContent = `Patient ${session.patient_id}`;
  $("board").hidden = false;
  const live = $("live");
  client.addEventListener("state", () => showConnection(live, client.state));
  await client.connect();
  await client.subscribe(session.channel, {
    onEvent: (event) => board.apply(event),
    onEphemeral: skeleton,
    onResync: async () => {
      const now = await api("GET", `/v1/telerehab/sessions/${session.id}`);
      if (now.current) board.status(now.current);
      board.state(now.status);
    },
  });
  // Read again once subscribed: nothing that happened in between is missed.
  const now = await api("GET", `/v1/telerehab/sessions/${session.id}`);
  if (now.current) board.status(now.current);
  board.state(now.status);
}

start().catch((error) => {
  $("error").textContent =
    error?.code === "forbidden"
      ? "You may not follow this patient's sessions."
      : "The live view could not be loaded. Reload the page to try again.";
});
