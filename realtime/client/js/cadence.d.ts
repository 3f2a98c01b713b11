// Types of the Cadence JavaScript client (cadence.js), for TypeScript users and for the JSDoc of
// the client itself. The wire protocol is server/static/protocol.md (served at /docs/protocol).

/** A stream position: `{"offset", "epoch"}` on the wire. */
export interface Position {
  offset: string;
  epoch: string;
}

/** A channel name: `calendar:<uuid>`, `patient:<uuid>`, `org:<uuid>` or `visit:<uuid>` (a video room). */
export type ChannelName = `calendar:${string}` | `patient:${string}` | `org:${string}` | `visit:${string}`;

/** Where the client's connection is. */
export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** A token, nothing (anonymous: public calendars only) or a function returning a fresh token. */
export type TokenSource = string | null | (() => string | null | Promise<string | null>);

export interface ClientOptions {
  /** Access token or a refresh callback (called before every connection and before expiry). */
  token?: TokenSource;
  /** Backoff of reconnects, jittered in [0, min(max, min * 2^attempt)]. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** How long a reply to an op may take before the call rejects with code `timeout`. */
  callTimeoutMs?: number;
  /** Refresh a callback token this long before its `exp` (with an `auth` frame). */
  refreshBeforeMs?: number;
  /** Base URL of REST calls (default: derived from the WebSocket URL). */
  httpBase?: string;
  /** The WebSocket constructor (default: globalThis.WebSocket). */
  WebSocket?: typeof WebSocket;
}

/** One event of a channel, in stream order. */
export interface CadenceEvent<T = unknown> {
  channel: string;
  position: Position;
  type: string;
  data: T;
}

/** History was lost (`recovered: false` or a `recovery` frame): refetch the snapshot; the
 * events that follow continue from `position`. */
export interface Resync {
  channel: string;
  position: Position;
}

export interface SubscribeOptions {
  /** The position of the snapshot the caller holds; omit for events from now on. */
  since?: Position | null;
  onEvent?: (event: CadenceEvent) => void;
  onResync?: (resync: Resync) => void | Promise<void>;
  /** Ephemeral events of the channel (`pose.skeleton`): not stored, never replayed. */
  onEphemeral?: (event: EphemeralEvent) => void;
}

/** An event that is not stored (an `ephemeral` frame): no position; lost when not live. */
export interface EphemeralEvent<T = unknown> {
  channel: string;
  type: string;
  data: T;
}

/** `pose.skeleton` data: the 2-D points of a session's latest frame (null: not seen). */
export interface PoseSkeleton {
  session_id: string;
  t: number;
  aspect: number;
  points: Array<[number, number] | null>;
}

export interface SlotDelta {
  calendar_id: string;
  upserted: Array<{ start: string; end: string; specialist_ids: string[] }>;
  removed: Array<{ start: string; end: string }>;
}

export interface Slot {
  start: string;
  end: string;
  specialist_ids: string[];
  local_start?: string;
}

export interface Hold {
  id: string;
  calendar_id: string;
  start: string;
  end: string;
  specialist_id: string;
  expires_at: string;
  replaced_hold_id?: unknown;
  /** Anonymous holds only: the secret that identifies this booker. */
  hold_token?: string;
}

export interface HoldRequest {
  calendar_id: string;
  start: string;
  specialist_id?: string | null;
  hold_token?: string;
}

export interface GuestContact {
  name: string;
  email: string;
  phone: string;
}

/** The guest's acceptance of the clinic's privacy policy: the version and digest the page showed. */
export interface GuestConsent {
  accepted: true;
  privacy_policy_version: string;
  privacy_policy_sha256: string;
}

export interface PublicBookingRequest {
  hold_id: string;
  hold_token: string;
  contact: GuestContact;
  visit_reason?: string;
  /** Required when the calendar's terms say `consent_required`. */
  consent?: GuestConsent;
}

/** `GET /v1/public/calendars/{id}/booking-terms`: what a public booking of the calendar becomes
 * (`request`: an appointment in status `requested` that the clinic confirms) and what the
 * guest must accept. */
export interface BookingTerms {
  calendar_id?: string;
  mode: "instant" | "request";
  consent_required: boolean;
  privacy_policy_version: string | null;
  privacy_policy_sha256: string | null;
}

export interface BookingRequest {
  hold_id: string;
  patient_id: string;
  visit_reason?: string;
}

export interface Appointment {
  id: string;
  status: string;
  calendar_id: string;
  specialist_id: string;
  start: string;
  end: string;
  patient_id?: string;
  [field: string]: unknown;
}

export interface TelemetryEvent {
  id: string;
  type: string;
  t: number | string;
  session_id?: string;
  data: Record<string, unknown>;
}

export interface TelemetryAck {
  accepted: number;
  rejected: Array<{ id: string; error: { code: string; message: string } }>;
  discarded?: number;
}

export type SessionAction = "pause" | "resume" | "skip" | "done" | "abandon";

/** One pose frame: `t` in ms and 33 rows of [x, y, z, visibility]. */
export interface PoseFrame {
  t: number;
  landmarks: ArrayLike<ArrayLike<number>>;
}

export interface PresenceResult {
  channel: string;
  viewers?: number;
  connected?: boolean;
  devices?: number;
  [field: string]: unknown;
}

export interface CadenceClientEvents {
  state: CustomEvent<{ state: ConnectionState; previous: ConnectionState }>;
  error: CustomEvent<CadenceError>;
}

/** An `error` reply, a refused REST call or a lost connection (`code` "disconnected"). */
export declare class CadenceError extends Error {
  constructor(code: string, message: string, details?: Record<string, unknown>, status?: number);
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly status: number | undefined;
}

/** A channel held across reconnects. */
export declare class Subscription {
  readonly channel: string;
  /** The last event applied (or the position the server gave). */
  position: Position | null;
  active: boolean;
}

/** What every implementation of the client offers (the class below declares it). */
export interface CadenceClientApi {
  readonly state: ConnectionState;
  readonly connections: number;
  readonly unacknowledged: ReadonlyMap<number, TelemetryEvent[]>;
  connect(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
  subscribe(channel: string, options?: SubscribeOptions): Promise<Subscription>;
  unsubscribe(channel: string): Promise<void>;
  call(op: string, fields?: Record<string, unknown>): Promise<Record<string, unknown>>;
  hold(request: HoldRequest): Promise<Hold>;
  release(holdId: string, holdToken?: string): Promise<void>;
  bookPublic(request: PublicBookingRequest): Promise<Appointment>;
  book(request: BookingRequest): Promise<Appointment>;
  session(sessionId: string, action: SessionAction, fields?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** `aspect` (image width / height) is required on the first frames of every set: without it the
   * server answers an `error` with code `aspect_required` and counts nothing. */
  sendLandmarks(sessionId: string, frames: PoseFrame[], options?: { aspect?: number }): Promise<Record<string, unknown>>;
  sendFrame(sessionId: string, jpeg: ArrayBuffer, t: number): Promise<Record<string, unknown>>;
  sendTelemetry(events: TelemetryEvent[], options?: { giveUpAfterMs?: number }): Promise<TelemetryAck>;
  presence(channel: string): Promise<PresenceResult>;
  fetchJson<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
}

/**
 * Connects with a token, keeps subscriptions, reconnects with jittered backoff and resumes
 * from each subscription's last position (`recovered: false` calls `onResync`).
 * Dispatches `state` (CustomEvent, detail `{state, previous}`) and `error` events.
 */
export declare class CadenceClient extends EventTarget implements CadenceClientApi {
  constructor(url: string, options?: ClientOptions);
  readonly state: ConnectionState;
  readonly connections: number;
  readonly unacknowledged: ReadonlyMap<number, TelemetryEvent[]>;
  connect(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
  subscribe(channel: string, options?: SubscribeOptions): Promise<Subscription>;
  unsubscribe(channel: string): Promise<void>;
  call(op: string, fields?: Record<string, unknown>): Promise<Record<string, unknown>>;
  hold(request: HoldRequest): Promise<Hold>;
  release(holdId: string, holdToken?: string): Promise<void>;
  bookPublic(request: PublicBookingRequest): Promise<Appointment>;
  book(request: BookingRequest): Promise<Appointment>;
  session(sessionId: string, action: SessionAction, fields?: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** `aspect` (image width / height) is required on the first frames of every set: without it the
   * server answers an `error` with code `aspect_required` and counts nothing. */
  sendLandmarks(sessionId: string, frames: PoseFrame[], options?: { aspect?: number }): Promise<Record<string, unknown>>;
  sendFrame(sessionId: string, jpeg: ArrayBuffer, t: number): Promise<Record<string, unknown>>;
  sendTelemetry(events: TelemetryEvent[], options?: { giveUpAfterMs?: number }): Promise<TelemetryAck>;
  presence(channel: string): Promise<PresenceResult>;
  fetchJson<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  addEventListener<K extends keyof CadenceClientEvents>(
    type: K,
    listener: (event: CadenceClientEvents[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
}

/** Encodes a binary `pose.landmarks` frame (header length, JSON header, float32 LE payload). */
export declare function encodeLandmarks(
  header: { id?: number; session_id: string; aspect?: number },
  frames: PoseFrame[],
): ArrayBuffer;

/** Encodes a binary `pose.frame` (header length, JSON header, JPEG bytes). */
export declare function encodeFrame(header: { id?: number; session_id: string; t: number }, jpeg: ArrayBuffer): ArrayBuffer;

/** Applies a `slots.changed` delta to a sorted slot list (returns a new list). */
export declare function applySlotDelta<S extends Slot>(slots: S[], delta: SlotDelta, fill?: (slot: Slot) => S): S[];

/** Seconds of jittered backoff for the n-th attempt (full jitter). */
export declare function backoffMs(attempt: number, minMs: number, maxMs: number): number;
