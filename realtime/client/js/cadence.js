// The JavaScript client of Cadence's WebSocket (`GET /v1/ws`, server/static/protocol.md).
// An ES module with no dependencies and no build step: browsers load it from the server at
// /static/js/cadence.js; its types are in cadence.d.ts beside it (checked with tsc in the tests).
// @ts-check

/** @typedef {import("./cadence.js").Position} Position */
/** @typedef {import("./cadence.js").ConnectionState} ConnectionState */
/** @typedef {import("./cadence.js").TokenSource} TokenSource */
/** @typedef {import("./cadence.js").ClientOptions} ClientOptions */
/** @typedef {import("./cadence.js").CadenceEvent} CadenceEvent */
/** @typedef {import("./cadence.js").Resync} Resync */
/** @typedef {import("./cadence.js").SubscribeOptions} SubscribeOptions */
/** @typedef {import("./cadence.js").Slot} Slot */
/** @typedef {import("./cadence.js").SlotDelta} SlotDelta */
/** @typedef {import("./cadence.js").Hold} Hold */
/** @typedef {import("./cadence.js").HoldRequest} HoldRequest */
/** @typedef {import("./cadence.js").PublicBookingRequest} PublicBookingRequest */
/** @typedef {import("./cadence.js").BookingRequest} BookingRequest */
/** @typedef {import("./cadence.js").Appointment} Appointment */
/** @typedef {import("./cadence.js").TelemetryEvent} TelemetryEvent */
/** @typedef {import("./cadence.js").TelemetryAck} TelemetryAck */
/** @typedef {import("./cadence.js").SessionAction} SessionAction */
/** @typedef {import("./cadence.js").PoseFrame} PoseFrame */
/** @typedef {import("./cadence.js").PresenceResult} PresenceResult */
/** @typedef {import("./cadence.js").CadenceClientApi} CadenceClientApi */
/** @typedef {{op: string, id?: number, result?: any, error?: {code: string, message: string, details?: Record<string, unknown>}, channel?: string, offset?: string, epoch?: string, type?: string, data?: unknown, position?: Position, recovered?: boolean}} ServerFrame */
/** @typedef {{resolve: (frame: ServerFrame) => void, reject: (error: Error) => void}} Pending */

const LANDMARKS = 33;
// Closes after which retrying with the same fixed token cannot help.
const FATAL = new Map([
  [4001, "token missing, invalid or expired"],
  [4003, "access revoked"],
]);
// Answers after which the same telemetry batch is sent again (the server deduplicates by id).
const RESEND = new Set(["disconnected", "timeout", "slow_down", "unavailable", "storage_unavailable"]);

export class CadenceError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {Record<string, unknown>} [details]
   * @param {number} [status]
   */
  constructor(code, message, details, status) {
    super(`${code}: ${message}`);
    this.name = "CadenceError";
    /** @readonly */
    this.code = code;
    /** @readonly @type {Record<string, unknown>} */
    this.details = details ?? {};
    /** @readonly @type {number | undefined} */
    this.status = status;
  }
}

/** A channel held across reconnects. */
export class Subscription {
  /**
   * @param {string} channel
   * @param {SubscribeOptions} options
   */
  constructor(channel, options) {
    /** @readonly */
    this.channel = channel;
    /** @type {Position | null} */
    this.position = options.since ?? null;
    this.active = true;
    /** @internal */
    this.onEvent = options.onEvent;
    /** @internal */
    this.onResync = options.onResync;
    /** @internal */
    this.onEphemeral = options.onEphemeral;
  }
}

/**
 * Milliseconds of "full jitter" backoff for the n-th consecutive failure: a uniform draw in
 * [0, min(max, min * 2^n)], so that a restarted server is not met by every client at once.
 * @param {number} attempt
 * @param {number} minMs
 * @param {number} maxMs
 * @returns {number}
 */
export function backoffMs(attempt, minMs, maxMs) {
  return Math.random() * Math.min(maxMs, minMs * 2 ** attempt);
}

/** @param {string} offset */
function seqOf(offset) {
  return Number(offset.slice(offset.indexOf("-") + 1));
}

/**
 * Encodes a binary `pose.landmarks` frame: a 4-byte big-endian header length, the JSON header,
 * then len(t) x 33 x [x, y, z, visibility] as little-endian float32 (528 bytes a frame).
 * @param {{id?: number, session_id: string, aspect?: number}} header
 * @param {PoseFrame[]} frames
 * @returns {ArrayBuffer}
 */
export function encodeLandmarks(header, frames) {
  /** @type {Record<string, unknown>} */
  const head = { op: "pose.landmarks", ...header, t: frames.map((f) => f.t) };
  if (header.aspect === undefined) delete head.aspect;
  const json = new TextEncoder().encode(JSON.stringify(head));
  const buffer = new ArrayBuffer(4 + json.length + frames.length * LANDMARKS * 16);
  const view = new DataView(buffer);
  view.setUint32(0, json.length, false);
  new Uint8Array(buffer, 4, json.length).set(json);
  let at = 4 + json.length;
  for (const frame of frames) {
    if (frame.landmarks.length !== LANDMARKS) {
      throw new CadenceError("bad_shape", `a frame needs ${LANDMARKS} landmarks`);
    }
    for (let i = 0; i < LANDMARKS; i++) {
      const row = frame.landmarks[i];
      for (let k = 0; k < 4; k++) {
        // A missing visibility (or any coordinate) is NaN: the server reads it as not visible.
        view.setFloat32(at, row[k] ?? Number.NaN, true);
        at += 4;
      }
    }
  }
  return buffer;
}

/**
 * Encodes a binary `pose.frame`: a 4-byte big-endian header length, the JSON header, then the
 * JPEG bytes of one camera image.
 * @param {{id?: number, session_id: string, t: number}} header
 * @param {ArrayBuffer} jpeg
 * @returns {ArrayBuffer}
 */
export function encodeFrame(header, jpeg) {
  const json = new TextEncoder().encode(JSON.stringify({ op: "pose.frame", ...header }));
  const out = new Uint8Array(4 + json.length + jpeg.byteLength);
  new DataView(out.buffer).setUint32(0, json.length, false);
  out.set(json, 4);
  out.set(new Uint8Array(jpeg), 4 + json.length);
  return out.buffer;
}

/**
 * Applies a `slots.changed` delta to a list sorted by start: an upserted entry replaces the
 * entry with the same start, a removed one leaves. Returns a new sorted list.
 * @template {Slot} S
 * @param {S[]} slots
 * @param {SlotDelta} delta
 * @param {(slot: Slot) => S} [fill] builds the caller's entry (e.g. its local time) from a delta's
 * @returns {S[]}
 */
export function applySlotDelta(slots, delta, fill) {
  const byStart = new Map(slots.map((s) => [Date.parse(s.start), s]));
  for (const gone of delta.removed) byStart.delete(Date.parse(gone.start));
  for (const slot of delta.upserted) {
    byStart.set(Date.parse(slot.start), fill ? fill(slot) : /** @type {S} */ (slot));
  }
  return [...byStart.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}

/** @param {string} token @returns {number | null} the token's `exp` in ms, if it has one */
function expiryOf(token) {
  try {
    const part = token.split(".")[1];
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = JSON.parse(json).exp;
    return typeof exp === "number" ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/**
 * Connects with a token, keeps subscriptions, reconnects with jittered backoff and resumes.
 *
 * Events of a channel reach `onEvent` in stream order, each once; after a reconnect the client
 * resubscribes with its last position and either receives what it missed or calls `onResync`
 * (history was lost: refetch the snapshot). With a fixed token, a 4001 or 4003 close stops the
 * client (state `closed`, an `error` event); a token callback is asked again instead.
 * @implements {CadenceClientApi}
 */
export class CadenceClient extends EventTarget {
  /**
   * @param {string} url the WebSocket URL, e.g. `wss://host/v1/ws`
   * @param {ClientOptions} [options]
   */
  constructor(url, options = {}) {
    super();
    /** @private */ this._url = url;
    /** @private @type {TokenSource} */ this._token = options.token ?? null;
    /** @private */ this._backoff = [options.backoffMinMs ?? 100, options.backoffMaxMs ?? 10000];
    /** @private */ this._callTimeoutMs = options.callTimeoutMs ?? 10000;
    /** @private */ this._refreshBeforeMs = options.refreshBeforeMs ?? 60000;
    /** @private */ this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    const http = new URL(url);
    http.protocol = http.protocol === "wss:" ? "https:" : "http:";
    /** @private */ this._httpBase = options.httpBase ?? http.origin;
    /** @private @type {Map<string, Subscription>} */ this._subs = new Map();
    /** @private @type {Map<number, Pending>} */ this._pending = new Map();
    /** @private @type {Map<number, Subscription>} */ this._joining = new Map();
    /** @private */ this._ids = 0;
    /** @private @type {WebSocket | null} */ this._ws = null;
    /** @private @type {ConnectionState} */ this._state = "idle";
    /** @private */ this._stopped = false;
    /** @private */ this._attempt = 0;
    /** @private @type {string | null} */ this._current = null; // the token in use
    /** @private @type {ReturnType<typeof setTimeout> | undefined} */ this._timer = undefined;
    /** @private @type {ReturnType<typeof setTimeout> | undefined} */ this._refreshTimer = undefined;
    /** @private @type {Array<{resolve: () => void, reject: (e: Error) => void}>} */
    this._readyWaiters = [];
    /** @private */ this._connections = 0;
    /** @private @type {Map<number, TelemetryEvent[]>} */ this._unack = new Map();
    /** @private */ this._batches = 0;
    /** @type {CadenceError | null} why the client stopped, when it stopped by itself */
    this.error = null;
  }

  /** @returns {ConnectionState} */
  get state() {
    return this._state;
  }

  /** Successful connections so far (1 + reconnects). */
  get connections() {
    return this._connections;
  }

  /** Telemetry batches sent and not yet acknowledged (they are sent again after a reconnect). */
  get unacknowledged() {
    return /** @type {ReadonlyMap<number, TelemetryEvent[]>} */ (this._unack);
  }

  /**
   * Opens the connection; resolves once it is open (and authenticated), rejects when the client
   * stops first or after `timeoutMs`. It keeps reconnecting afterwards until `close()`.
   * @param {number} [timeoutMs]
   * @returns {Promise<void>}
   */
  connect(timeoutMs = 10000) {
    if (this._state === "idle") {
      this._stopped = false;
      void this._open();
    }
    return this._whenOpen(timeoutMs);
  }

  /** Closes with 1000 and stops reconnecting; pending calls reject with `closed`. */
  async close() {
    this._stopped = true;
    clearTimeout(this._timer);
    clearTimeout(this._refreshTimer);
    const ws = this._ws;
    this._ws = null;
    this._fail(new CadenceError("closed", "the client was closed"));
    this._setState("closed");
    if (ws && ws.readyState <= 1) {
      const closed = new Promise((resolve) => ws.addEventListener("close", resolve, { once: true }));
      ws.close(1000, "bye");
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
    }
  }

  /**
   * Subscribes to a channel (and keeps it across reconnects). With `since`, the missed events
   * follow, or `onResync` is called when history was lost.
   * @param {string} channel
   * @param {SubscribeOptions} [options]
   * @returns {Promise<Subscription>}
   */
  async subscribe(channel, options = {}) {
    const sub = new Subscription(channel, options);
    this._subs.set(channel, sub);
    try {
      await this._join(sub);
    } catch (error) {
      this._subs.delete(channel);
      throw error;
    }
    return sub;
  }

  /** @param {string} channel */
  async unsubscribe(channel) {
    const sub = this._subs.get(channel);
    if (!sub) return;
    this._subs.delete(channel);
    sub.active = false;
    if (this._state === "open") await this.call("unsubscribe", { channel });
  }

  /**
   * Sends one op and resolves with its `result`; rejects with a CadenceError on an `error`
   * reply, a lost connection (`disconnected`) or no reply in time (`timeout`).
   * @param {string} op
   * @param {Record<string, unknown>} [fields]
   * @returns {Promise<Record<string, unknown>>}
   */
  async call(op, fields = {}) {
    const reply = await this._request((id) => JSON.stringify({ ...fields, id, op }));
    return reply.result ?? {};
  }

  /** @param {HoldRequest} request @returns {Promise<Hold>} */
  async hold(request) {
    const result = await this.call("hold", { ...request });
    return /** @type {Hold} */ (/** @type {unknown} */ (result));
  }

  /** @param {string} holdId @param {string} [holdToken] */
  async release(holdId, holdToken) {
    await this.call("release", holdToken ? { hold_id: holdId, hold_token: holdToken } : { hold_id: holdId });
  }

  /** Books an anonymous hold as a guest (REST `POST /v1/public/bookings`).
   * @param {PublicBookingRequest} request @returns {Promise<Appointment>} */
  bookPublic(request) {
    return this.fetchJson("POST", "/v1/public/bookings", request);
  }

  /** Books a hold for a patient (REST `POST /v1/appointments`).
   * @param {BookingRequest} request @returns {Promise<Appointment>} */
  book(request) {
    return this.fetchJson("POST", "/v1/appointments", request);
  }

  /**
   * Session control: `session.pause`, `session.resume`, `session.skip`, `session.done`,
   * `session.abandon`.
   * @param {string} sessionId
   * @param {SessionAction} action
   * @param {Record<string, unknown>} [fields]
   */
  session(sessionId, action, fields = {}) {
    return this.call(`session.${action}`, { ...fields, session_id: sessionId });
  }

  /**
   * Sends pose landmarks as one binary `pose.landmarks` frame (528 bytes a frame). Pass
   * `aspect` (image width / height) at least on the first frames of every set: without it the
   * server rejects them with `aspect_required`.
   * @param {string} sessionId
   * @param {PoseFrame[]} frames
   * @param {{aspect?: number}} [options]
   */
  async sendLandmarks(sessionId, frames, options = {}) {
    const reply = await this._request((id) =>
      encodeLandmarks({ id, session_id: sessionId, aspect: options.aspect }, frames),
    );
    return reply.result ?? {};
  }

  /**
   * Sends one camera image as a binary `pose.frame` (the server estimates the pose; feedback
   * arrives as events). Resolves with `{session_id, queued, dropped}`.
   * @param {string} sessionId
   * @param {ArrayBuffer} jpeg
   * @param {number} t capture time, ms
   */
  async sendFrame(sessionId, jpeg, t) {
    const reply = await this._request((id) => encodeFrame({ id, session_id: sessionId, t }, jpeg));
    return reply.result ?? {};
  }

  /**
   * Sends a telemetry batch and resolves with the acknowledgement, which comes only once the
   * batch is stored. Until then the batch is in `unacknowledged` and sent again after a
   * reconnect or after the server's retry hint; resends are harmless (ids deduplicate).
   * @param {TelemetryEvent[]} events
   * @param {{giveUpAfterMs?: number}} [options]
   * @returns {Promise<TelemetryAck>}
   */
  async sendTelemetry(events, options = {}) {
    const key = ++this._batches;
    this._unack.set(key, events);
    const deadline = Date.now() + (options.giveUpAfterMs ?? 300000);
    try {
      for (;;) {
        try {
          const ack = await this.call("telemetry", { events });
          return /** @type {TelemetryAck} */ (/** @type {unknown} */ (ack));
        } catch (error) {
          if (!(error instanceof CadenceError) || !RESEND.has(error.code) || Date.now() > deadline) {
            throw error;
          }
          const hint = Number(error.details.retry_after_ms ?? 200);
          await new Promise((r) => setTimeout(r, hint));
        }
      }
    } finally {
      this._unack.delete(key);
    }
  }

  /** Viewers of a calendar, or whether a patient's device is connected (staff).
   * @param {string} channel @returns {Promise<PresenceResult>} */
  async presence(channel) {
    const result = await this.call("presence", { channel });
    return /** @type {PresenceResult} */ (/** @type {unknown} */ (result));
  }

  /**
   * A REST call on the same server with the client's token; rejects with a CadenceError that
   * carries the error envelope's code, message, details and the HTTP status.
   * @template [T=unknown]
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<T>}
   */
  async fetchJson(method, path, body) {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json" };
    const token = this._current ?? (typeof this._token === "string" ? this._token : null);
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(this._httpBase + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const e = data?.error ?? { code: "http_error", message: response.statusText };
      throw new CadenceError(e.code, e.message, e.details, response.status);
    }
    return data;
  }

  // --- internals --------------------------------------------------------------------------

  /** @private @param {ConnectionState} state */
  _setState(state) {
    const previous = this._state;
    if (previous === state) return;
    this._state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, previous } }));
  }

  /** @private @param {CadenceError} error */
  _report(error) {
    this.dispatchEvent(new CustomEvent("error", { detail: error }));
  }

  /** @private @param {number} timeoutMs @returns {Promise<void>} */
  _whenOpen(timeoutMs) {
    if (this._state === "open") return Promise.resolve();
    if (this._state === "closed") {
      return Promise.reject(this.error ?? new CadenceError("closed", "the client is closed"));
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        /** @param {Error} e */
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this._readyWaiters = this._readyWaiters.filter((w) => w !== waiter);
        reject(new CadenceError("timeout", "not connected in time"));
      }, timeoutMs);
      this._readyWaiters.push(waiter);
    });
  }

  /** @private @returns {Promise<string | null>} */
  async _tokenValue() {
    const source = this._token;
    if (typeof source === "function") return await source();
    return source;
  }

  /** @private */
  async _open() {
    if (this._stopped) return;
    this._setState(this._connections > 0 || this._attempt > 0 ? "reconnecting" : "connecting");
    let token;
    try {
      token = await this._tokenValue();
    } catch (cause) {
      // A refresh callback that throws is the client's error, not a silent timeout.
      const error =
        cause instanceof CadenceError
          ? cause
          : new CadenceError("token_unavailable", String(/** @type {Error} */ (cause)?.message ?? cause));
      this._report(error);
      if (error.status === 401 || error.status === 403) {
        this._stop(error);
        return;
      }
      this._retry();
      return;
    }
    if (this._stopped) return;
    this._current = token;
    const ws = new this._WebSocket(this._url);
    ws.binaryType = "arraybuffer";
    this._ws = ws;
    ws.addEventListener("open", () => void this._opened(ws, token));
    ws.addEventListener("message", (event) => this._onMessage(ws, event));
    ws.addEventListener("close", (event) => this._closed(ws, event));
  }

  /** @private @param {WebSocket} ws @param {string | null} token */
  async _opened(ws, token) {
    this._attempt = 0;
    try {
      // The token goes in the first frame, not the URL (which proxies and histories keep).
      if (token) await this._send(ws, (id) => JSON.stringify({ id, op: "auth", token }));
    } catch {
      return; // the close that follows decides what happens next
    }
    if (ws !== this._ws) return;
    this._connections += 1;
    this._setState("open");
    for (const waiter of this._readyWaiters.splice(0)) waiter.resolve();
    this._scheduleRefresh(token);
    for (const sub of [...this._subs.values()]) {
      this._join(sub).catch((error) => this._report(error));
    }
  }

  /** @private @param {string | null} token */
  _scheduleRefresh(token) {
    clearTimeout(this._refreshTimer);
    if (!token || typeof this._token !== "function") return;
    const exp = expiryOf(token);
    if (exp === null) return;
    const due = Math.max(1000, exp - Date.now() - this._refreshBeforeMs);
    this._refreshTimer = setTimeout(async () => {
      try {
        const fresh = await this._tokenValue();
        if (!fresh || this._state !== "open") return;
        await this.call("auth", { token: fresh });
        this._current = fresh;
        this._scheduleRefresh(fresh);
      } catch (error) {
        // The server closes with 4001 at expiry; the reconnect asks the callback again.
        this._report(error instanceof CadenceError ? error : new CadenceError("token_unavailable", String(error)));
      }
    }, due);
  }

  /** @private @param {Subscription} sub */
  async _join(sub) {
    /** @type {Record<string, unknown>} */
    const fields = { op: "subscribe", channel: sub.channel };
    if (sub.position) fields.since = sub.position;
    await this._request((id) => {
      this._joining.set(id, sub);
      return JSON.stringify({ ...fields, id });
    });
  }

  /**
   * Waits for the connection, sends one frame built for a fresh id, waits for its reply.
   * @private
   * @param {(id: number) => string | ArrayBuffer} build
   * @returns {Promise<ServerFrame>}
   */
  async _request(build) {
    await this._whenOpen(this._callTimeoutMs);
    const ws = /** @type {WebSocket} */ (this._ws);
    return this._send(ws, build);
  }

  /**
   * @private
   * @param {WebSocket} ws
   * @param {(id: number) => string | ArrayBuffer} build
   * @returns {Promise<ServerFrame>}
   */
  _send(ws, build) {
    const id = ++this._ids;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        this._joining.delete(id);
        reject(new CadenceError("timeout", "no reply in time"));
      }, this._callTimeoutMs);
      this._pending.set(id, {
        resolve: (frame) => {
          clearTimeout(timer);
          if (frame.op === "error" && frame.error) {
            reject(new CadenceError(frame.error.code, frame.error.message, frame.error.details));
          } else {
            resolve(frame);
          }
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      try {
        ws.send(build(id));
      } catch (error) {
        this._pending.delete(id);
        this._joining.delete(id);
        clearTimeout(timer);
        reject(new CadenceError("disconnected", String(error)));
      }
    });
  }

  /** @private @param {WebSocket} ws @param {MessageEvent} event */
  _onMessage(ws, event) {
    if (ws !== this._ws) return;
    const text = typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data);
    /** @type {ServerFrame} */
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.op === "event") {
      this._onEvent(frame);
    } else if (frame.op === "ephemeral") {
      // Not stored, no position: handed over as is, never counted toward a resume.
      const sub = this._subs.get(/** @type {string} */ (frame.channel));
      if (sub?.active) sub.onEphemeral?.({ channel: sub.channel, type: String(frame.type), data: frame.data });
    } else if ((frame.op === "ok" || frame.op === "error") && typeof frame.id === "number") {
      const joining = this._joining.get(frame.id);
      this._joining.delete(frame.id);
      // Before any event that follows the reply is looked at (message handlers run in order).
      if (joining && frame.op === "ok") this._joined(joining, frame.result);
      this._pending.get(frame.id)?.resolve(frame);
      this._pending.delete(frame.id);
    } else if (frame.op === "recovery" && frame.channel && frame.position) {
      const sub = this._subs.get(frame.channel);
      if (sub) {
        sub.position = frame.position;
        this._resync(sub, frame.position);
      }
    }
  }

  /** @private @param {Subscription} sub @param {{position: Position, recovered: boolean}} result */
  _joined(sub, result) {
    if (sub.position === null) {
      sub.position = result.position;
    } else if (!result.recovered) {
      sub.position = result.position;
      this._resync(sub, result.position);
    }
    // recovered: true -> the missed events follow this reply and advance `position`.
  }

  /** @private @param {Subscription} sub @param {Position} position */
  _resync(sub, position) {
    if (!sub.onResync) {
      this._report(new CadenceError("history_lost", `${sub.channel}: history lost and no onResync`));
      return;
    }
    Promise.resolve(sub.onResync({ channel: sub.channel, position })).catch((error) =>
      this._report(error instanceof CadenceError ? error : new CadenceError("resync_failed", String(error))),
    );
  }

  /** @private @param {ServerFrame} frame */
  _onEvent(frame) {
    const sub = this._subs.get(/** @type {string} */ (frame.channel));
    if (!sub || !sub.active || !frame.offset || !frame.epoch) return;
    const position = { offset: frame.offset, epoch: frame.epoch };
    const last = sub.position;
    if (last && last.epoch === position.epoch && seqOf(position.offset) <= seqOf(last.offset)) {
      return; // already applied (a resume overlapping what we had)
    }
    sub.position = position;
    sub.onEvent?.({ channel: sub.channel, position, type: String(frame.type), data: frame.data });
  }

  /** @private @param {WebSocket} ws @param {CloseEvent} event */
  _closed(ws, event) {
    if (ws !== this._ws) return;
    this._ws = null;
    clearTimeout(this._refreshTimer);
    this._fail(new CadenceError("disconnected", `connection closed (${event.code})`));
    if (this._stopped) return;
    const fatal = FATAL.get(event.code);
    if (fatal && typeof this._token !== "function") {
      this._stop(new CadenceError("closed", `closed with ${event.code}: ${fatal}`));
      return;
    }
    this._retry();
  }

  /** @private */
  _retry() {
    this._attempt += 1;
    this._setState("reconnecting");
    const [low, high] = this._backoff;
    this._timer = setTimeout(() => void this._open(), backoffMs(this._attempt, low, high));
  }

  /** @private @param {CadenceError} error */
  _stop(error) {
    this.error = error;
    this._stopped = true;
    this._report(error);
    this._setState("closed");
    for (const waiter of this._readyWaiters.splice(0)) waiter.reject(error);
  }

  /** @private @param {CadenceError} error */
  _fail(error) {
    for (const pending of this._pending.values()) pending.reject(error);
    this._pending.clear();
    this._joining.clear();
    if (error.code === "closed") {
      for (const waiter of this._readyWaiters.splice(0)) waiter.reject(error);
    }
  }
}
