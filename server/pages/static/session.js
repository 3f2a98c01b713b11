// The signed-in session of a page: the access token lives in this module's memory only (never
// localStorage, never a cookie a script can read); the refresh token is an HttpOnly cookie that
// only /pages/auth/* receives. Pass `accessToken` to CadenceClient as its token callback.
// @ts-check

/** @typedef {{access_token: string, token_type: string, expires_in: number, user_id?: string, organization_id?: string | null, role?: string}} SessionAnswer */

/** @type {SessionAnswer | null} */
let current = null;
let expiresAt = 0;
/** @type {Promise<SessionAnswer | null> | null} */
let refreshing = null;

export class SignInError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** @param {string} path @param {unknown} [body] @returns {Promise<SessionAnswer | null>} */
async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? { code: "http_error", message: response.statusText };
    throw new SignInError(response.status, error.code, error.message);
  }
  return data;
}

/** @param {SessionAnswer | null} answer */
function keep(answer) {
  current = answer;
  expiresAt = answer ? Date.now() + answer.expires_in * 1000 : 0;
  return answer;
}

/** Signs in; the answer's token is kept in memory.
 * @param {string} email @param {string} password @param {string} [organizationId] */
export async function signIn(email, password, organizationId) {
  const body = organizationId ? { email, password, organization_id: organizationId } : { email, password };
  return keep(await post("/pages/auth/login", body));
}

/** The double-submit value: the `cadence_csrf` cookie, repeated in the body of refresh and
 * sign-out (the refresh cookie itself is HttpOnly: this script never sees it). */
function csrf() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("cadence_csrf="));
  return found ? found.slice("cadence_csrf=".length) : null;
}

/** A fresh access token from the refresh cookie (null when not signed in). One at a time. */
export function refresh() {
  const value = csrf();
  if (!value) return Promise.resolve(keep(null)); // never signed in here: nothing to ask
  refreshing ??= post("/pages/auth/refresh", { csrf: value })
    .then(keep)
    .catch((error) => {
      if (error instanceof SignInError && error.status === 401) return keep(null);
      throw error;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** The access token, refreshed when it has less than a minute left; null when signed out. */
export async function accessToken() {
  if (current && expiresAt - Date.now() > 60000) return current.access_token;
  const answer = await refresh();
  return answer ? answer.access_token : null;
}

/** Who is signed in (from the last answer), or null. */
export function who() {
  return current;
}

export async function signOut() {
  keep(null);
  const value = csrf();
  if (value) await post("/pages/auth/logout", { csrf: value });
}
