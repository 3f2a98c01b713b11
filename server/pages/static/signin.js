// The sign-in page: signs in with the cookie flow (session.js), then shows who is signed in and
// opens an authenticated WebSocket with the in-memory token.
// @ts-check
import { CadenceClient } from "/static/js/cadence.js";
import { accessToken, refresh, signIn, signOut, SignInError } from "/static/pages/session.js";

/** @param {string} id @returns {HTMLElement} */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @type {CadenceClient | null} */
let client = null;

/** Where to go once signed in (`?next=`, set by pages that need a sign-in): a path of this
 * server only, so the link cannot send a signed-in user elsewhere. */
function next() {
  const target = new URLSearchParams(location.search).get("next") ?? "";
  return target.startsWith("/") && !target.startsWith("//") && !target.startsWith("/\\") ? target : null;
}

async function showAccount() {
  /** @type {{email?: string, role?: string}} */
  const me = await (await fetch("/v1/me", { headers: { Authorization: `Bearer ${await accessToken()}` } })).json();
  $("role").textContent = me.role ?? "";
  $("email").textContent = me.email ? `(${me.email})` : "";
  $("signin").hidden = true;
  $("account").hidden = false;
  const live = $("live");
  live.textContent = "signed in";
  client = new CadenceClient(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/v1/ws`, { token: accessToken });
  client.addEventListener("state", () => {
    if (!client) return;
    live.dataset.state = client.state;
    $("socket").textContent = `Live connection: ${client.state}`;
  });
  await client.connect();
}

function showForm() {
  $("account").hidden = true;
  $("signin").hidden = false;
  $("live").textContent = "signed out";
  $("live").dataset.state = "idle";
}

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(/** @type {HTMLFormElement} */ (event.target));
  $("error").textContent = "";
  try {
    await signIn(String(data.get("email")), String(data.get("password")));
    const target = next();
    if (target) return location.assign(target);
    await showAccount();
  } catch (error) {
    $("error").textContent =
      error instanceof SignInError && error.status === 401 ? "Wrong e-mail or password."
        : error instanceof SignInError && error.status === 429 ? "Too many tries; wait a moment."
          : "Signing in failed; please try again.";
  }
});

$("signout").addEventListener("click", async () => {
  await client?.close();
  client = null;
  await signOut();
  showForm();
});

// A reload keeps the sign-in: the cookie gives a new access token, nothing was stored.
refresh()
  .then((answer) => (answer ? showAccount() : showForm()))
  .catch(() => showForm());
