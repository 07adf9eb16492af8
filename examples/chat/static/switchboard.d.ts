// Types of switchboard.js, the browser client of Switchboard's event
// protocol switchboard.v1 (docs/PROTOCOL.md).
//
// Name the events of your application, and what their payloads are, to
// have them checked:
//
//   type In = { message: { user: string; text: string; time: number } };
//   type Out = { message: { text: string } };
//   const sb = new Switchboard<In, Out>(url);
//   sb.on("message", (p) => p.text); // p is In["message"]
//   sb.send("message", { text: "hi" }, { room: "lobby" });

/** A map from event names to their payloads' types. */
export type EventMap = Record<string, unknown>;

/** One frame of the protocol: an envelope. */
export interface Envelope<P = unknown> {
  event: string;
  payload: P;
  /** The ref of the client's event that this frame answers. */
  ref?: string;
  /** The room a room message comes from. */
  room?: string;
  /** The message's place in the room's history. */
  offset?: number;
  /** The history the offset belongs to. */
  epoch?: string;
}

/** The connection's state. refused and closed are final. */
export type Status = "connecting" | "open" | "reconnecting" | "offline" | "refused" | "closed";

/** The payload of a "status" event. */
export interface StatusEvent {
  status: Status;
  /** The close code that ended the last connection. */
  code?: number;
  /** The close reason: for "refused", the server's words. */
  reason?: string;
  /** For "reconnecting": milliseconds before the next attempt. */
  delay?: number;
}

/** The payload of a "refused" event: the connection was refused for good. */
export interface RefusedEvent {
  code: number;
  reason: string;
}

/** The payload of a "missed" event: some of a room's messages may never arrive. */
export interface MissedEvent {
  room: string;
  /** The room's epoch from now on. */
  epoch: string;
  /** How many messages were lost; null when the offsets cannot tell (a new epoch). */
  missed: number | null;
}

/** The server's answer to a join. */
export interface Joined {
  room: string;
  /** true when everything missed since the client's position follows. */
  recovered: boolean;
  epoch: string;
  offset: number;
}

/** The payload of the server's error events. */
export interface ErrorPayload {
  code: ErrorCode | string;
  error: string;
}

/** The protocol's error codes (PROTOCOL.md section 7). */
export type ErrorCode =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "rate_limited"
  | "too_large"
  | "unavailable"
  | "internal";

/** The client's own reasons for a failed send, join or leave. */
export type ClientErrorCode = "timeout" | "queue_full" | "too_large" | "refused" | "closed" | "left";

/** How a send, join or leave fails. */
export class SwitchboardError extends Error {
  constructor(code: string, message: string);
  readonly code: ErrorCode | ClientErrorCode | string;
}

/** How envelopes become frames and back. */
export interface Codec {
  /** The subprotocol offered: switchboard.v1.json or switchboard.v1.msgpack. */
  readonly subprotocol: string;
  /** Binary frames (and ArrayBuffers to decode) rather than text. */
  readonly binary: boolean;
  encode(msg: Envelope): string | Uint8Array;
  decode(data: string | ArrayBuffer): unknown;
}

/** The switchboard.v1.json codec, the default. */
export const jsonCodec: Codec;

/** The client's own events, besides the server's. */
export interface LocalEvents {
  status: StatusEvent;
  refused: RefusedEvent;
  missed: MissedEvent;
  joined: Joined;
  left: { room: string };
  error: ErrorPayload;
}

export interface Options {
  /** The first reconnect's wait in ms, doubled on each failure. Defaults to 500. */
  backoff?: number;
  /** The longest wait in ms between attempts. Defaults to 10000. */
  maxBackoff?: number;
  /** How long in ms an event waits for its answer once sent. Defaults to 10000. */
  ackTimeout?: number;
  /** ms without a frame from the server before a heartbeat; 0 for none. Defaults to 10000. */
  heartbeat?: number;
  /** The heartbeat's event name. Defaults to "heartbeat". */
  heartbeatEvent?: string;
  /** Events that may wait for the connection. Defaults to 100. */
  queueLimit?: number;
  /** Called before every connect; its result goes in the URL as tokenParam. Defaults to none. */
  token?: (() => string | Promise<string>) | null;
  /** The token's query parameter. Defaults to "token". */
  tokenParam?: string;
  /** The codec. Defaults to jsonCodec; msgpackCodec is in msgpack.js. */
  codec?: Codec;
  /** The WebSocket constructor. Defaults to globalThis.WebSocket. */
  WebSocket?: new (url: string, protocols?: string | string[]) => WebSocket;
}

type Handler<P> = (payload: P, msg: Envelope<P>) => void;
type Incoming<In extends EventMap> = Omit<LocalEvents, keyof In> & In;

/**
 * A connection to a switchboard.v1 endpoint that reconnects, rejoins its
 * rooms and resends what waited, until close() or a refusal.
 * In: the events the server sends; Out: the events the client sends.
 */
export class Switchboard<In extends EventMap = Record<string, any>, Out extends EventMap = Record<string, any>> {
  /** url, or a function called before every connect. */
  constructor(url: string | (() => string | Promise<string>), options?: Options);
  readonly status: Status;
  /** The client's session, named in every handshake (sb_session) so that an event sent again after a reconnect is handled once. */
  readonly session: string;
  /** The rooms joined or being joined. */
  readonly rooms: string[];
  /** Calls fn for every event named event; returns a function that removes it. */
  on<K extends keyof Incoming<In> & string>(event: K, fn: Handler<Incoming<In>[K]>): () => void;
  /** Removes fn, or every handler of event without fn. */
  off<K extends keyof Incoming<In> & string>(event: K, fn?: Handler<Incoming<In>[K]>): void;
  /** Calls fn for the next event named event only; returns a function that removes it. */
  once<K extends keyof Incoming<In> & string>(event: K, fn: Handler<Incoming<In>[K]>): () => void;
  /** The next event named event's payload. */
  once<K extends keyof Incoming<In> & string>(event: K): Promise<Incoming<In>[K]>;
  /** Sends an event and settles with its answer (reply or ack); queued while not connected. */
  send<K extends keyof Out & string>(event: K, payload: Out[K], options?: { room?: string; timeout?: number }): Promise<Envelope>;
  /** Sends an event with no answer, only while connected; false when it was not sent. */
  emit<K extends keyof Out & string>(event: K, payload: Out[K], options?: { room?: string }): boolean;
  /** Joins a room (sent when the connection opens); settles with the server's answer. */
  join(room: string, options?: { history?: boolean }): Promise<Joined>;
  /** Leaves a room; the room is kept until the server confirms. */
  leave(room: string): Promise<{ room: string }>;
  /** Closes with 1000 and stops for good. */
  close(): void;
}
