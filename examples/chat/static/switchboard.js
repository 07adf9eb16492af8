// switchboard.js: the browser client of Switchboard's event protocol,
// switchboard.v1 (docs/PROTOCOL.md), as an ES module with no dependencies.
// Copy it freely, with switchboard.d.ts for its types and msgpack.js for
// the msgpack codec.
//
//   import { Switchboard } from "/switchboard.js";
//   const sb = new Switchboard("wss://example.com/ws?name=ada");
//   sb.on("status", ({ status, reason }) => banner(status, reason));
//   sb.on("message", (payload, msg) => show(msg.room, payload));
//   sb.on("missed", ({ room, missed }) => notice(room, missed));
//   const { recovered } = await sb.join("lobby"); // queued until the socket opens
//   await sb.send("message", { text: "hi" }, { room: "lobby" }); // the ack
//   sb.emit("typing", null, { room: "lobby" }); // no answer; dropped offline
//
// What it does for the page:
//
//   - Events by name: on/off/once; answers by ref: send returns a promise
//     settled by the reply, the ack or the error (a SwitchboardError with
//     the protocol's code).
//   - Status: "connecting", "open", "reconnecting" (with the delay),
//     "offline" (the browser has no network: it waits for it), "refused"
//     (with the server's reason; final) and "closed" (final), as "status"
//     events and the status property.
//   - Close codes as PROTOCOL.md section 11 says: 1008 and 4004 refuse the
//     connection (a "refused" event with the reason, no reconnect); 1000,
//     1001, 1002, 1003 and 1007 stop; 1009 fails the events in flight and
//     reconnects; 1012 reconnects at once with jitter; 1013 and 4003 wait
//     longer; every other code, 1006 included, reconnects with exponential
//     backoff and jitter, reset once a connection stayed open for 5 s.
//     (A handshake refused with an HTTP status reaches a browser as 1006,
//     a drop: a server that refuses a browser should accept and close
//     with 1008 or 4004 and a reason, as the chat example does.)
//   - Rooms: join before the socket opens is sent when it opens and
//     settled by the server's answer; a refused join forgets the room.
//     leave keeps the room until the server confirms with "left" (or the
//     connection ends, which leaves every room). After a reconnect every
//     room is joined again from its position (epoch, offset); duplicates
//     are dropped.
//   - Missed messages: a rejoin answered recovered: false, or a message of
//     a new epoch, emits "missed" with {room, epoch, missed}: the number
//     of messages lost when the offsets tell (a rejoin in the same epoch),
//     null when they cannot (a new epoch: offsets do not compare across).
//   - Offline queue: send while not connected queues the event (at most
//     queueLimit, 100 by default; past it the promise fails with code
//     "queue_full"). Queued events, and events in flight when the
//     connection dropped, are sent again with their refs after the
//     reconnect. Every handshake names the client's session (the query
//     parameter sb_session, random per client), so the server answers an
//     event sent again with the answer it gave the first time and
//     handles it once (PROTOCOL.md section 4).
//   - Heartbeat: the server pings only a client that has sent it nothing
//     for 25 s, and a browser cannot send pings or see them. So after
//     `heartbeat` ms (10 s by default) without a frame from the server,
//     the client sends a "heartbeat" event with a ref; any frame counts as
//     an answer. A server without a handler for it answers not_found
//     (PROTOCOL.md section 7), so this works with every switchboard.v1
//     server, and an application may register a handler that does
//     nothing (an ack). Without a frame for another `heartbeat` ms the
//     connection is taken for dead and replaced: a silent drop is noticed
//     within two intervals. Heartbeats count as the client's messages for
//     the server's idle expiry (EventOptions.Expires).
//   - Tokens: token() is called before every connect, reconnects
//     included, and its result set as the URL's query parameter
//     tokenParam ("token"); url may be a function as well.
//   - Codecs: JSON by default; msgpack with
//     `import { msgpackCodec } from "/msgpack.js"` and {codec: msgpackCodec}.
//
// The client's own events, "status", "refused" and "missed", share the
// namespace of the server's events: an application should not name its
// events so.

// newSession returns a random session name: 22 characters of base64url
// (128 bits).
function newSession() {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// jsonCodec is the switchboard.v1.json codec: envelopes as JSON in text
// frames.
export const jsonCodec = Object.freeze({
  subprotocol: "switchboard.v1.json",
  binary: false,
  encode: (msg) => JSON.stringify(msg),
  decode: (data) => JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data)),
});

// SwitchboardError is how a send, join or leave fails: code is the
// protocol's (bad_request, forbidden, rate_limited, ...) or the client's
// own: "timeout" (no answer within ackTimeout), "queue_full", "too_large"
// (the server closed with 1009 while the event was in flight), "refused"
// and "closed" (the client stopped: the event was not sent) and "left"
// (the room was left before it was joined).
export class SwitchboardError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "SwitchboardError";
    this.code = code;
  }
}

// REFUSED close codes refuse the connection for good: a server that
// refuses a browser accepts the handshake and closes with one of them and
// a reason, since a browser cannot read a refused handshake's status.
const REFUSED = new Set([1008, 4004]);
// FINAL close codes stop the client too: it asked (1000, 1001), or it is
// at fault (1002, 1003, 1007) and trying again cannot help.
const FINAL = new Set([1000, 1001, 1002, 1003, 1007]);
// SLOW close codes ask for a longer wait before reconnecting.
const SLOW = new Set([1013, 4003]);
// STABLE is how long a connection stays open before the backoff starts
// again from its first step.
const STABLE = 5000;

const DEFAULTS = {
  backoff: 500,
  maxBackoff: 10000,
  ackTimeout: 10000,
  heartbeat: 10000,
  heartbeatEvent: "heartbeat",
  queueLimit: 100,
  token: null,
  tokenParam: "token",
};

export class Switchboard {
  #url;
  #opts;
  #codec;
  #WebSocket;
  #ws = null;
  #openedAt = 0;
  #status = "connecting";
  #stopped = false;
  #attempt = 0;
  #timer = null;
  #generation = 0;
  #handlers = new Map(); // event -> [fn]
  #pending = new Map(); // ref -> {msg, kind, room, resolve, reject, timer, sent}
  #rooms = new Map(); // room -> {epoch, offset, history, here, inflight, joins, leave, since, gap}
  #nextRef = 1;
  #session;
  #lastSeen = 0;
  #beatTimer = null;
  #beatRef = null;
  #beatSentAt = 0;
  #beats = 0;
  #online = () => {
    if (this.#status === "offline") {
      clearTimeout(this.#timer);
      this.#connect();
    }
  };

  constructor(url, options = {}) {
    this.#url = url;
    this.#session = newSession();
    this.#opts = { ...DEFAULTS, ...options };
    this.#codec = options.codec ?? jsonCodec;
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    globalThis.addEventListener?.("online", this.#online);
    // Handlers registered right after the constructor see "connecting".
    queueMicrotask(() => this.#connect());
  }

  // session is the name of the client's session, sent in every handshake
  // (sb_session) so that an event sent again after a reconnect is handled
  // once.
  get session() {
    return this.#session;
  }

  // status is the connection's: connecting, open, reconnecting, offline,
  // refused or closed.
  get status() {
    return this.#status;
  }

  // rooms are the rooms joined or being joined, in the order of join.
  get rooms() {
    return [...this.#rooms.keys()];
  }

  // on calls fn(payload, msg) for every event named event, and returns a
  // function that removes it.
  on(event, fn) {
    if (!this.#handlers.has(event)) this.#handlers.set(event, []);
    this.#handlers.get(event).push(fn);
    return () => this.off(event, fn);
  }

  // off removes fn (every handler of event without fn).
  off(event, fn) {
    if (!fn) return void this.#handlers.delete(event);
    const fns = (this.#handlers.get(event) || []).filter((f) => f !== fn && f.fn !== fn);
    if (fns.length) this.#handlers.set(event, fns);
    else this.#handlers.delete(event);
  }

  // once calls fn for the next event named event only; without fn it
  // returns a promise of that event's payload.
  once(event, fn) {
    if (!fn) return new Promise((resolve) => this.once(event, resolve));
    const wrapper = (payload, msg) => {
      this.off(event, wrapper);
      fn(payload, msg);
    };
    wrapper.fn = fn;
    return this.on(event, wrapper);
  }

  // send sends an event with a ref and returns a promise of its answer
  // (the reply's envelope, or the ack's). While not connected the event
  // waits in a queue and goes out, with its ref, once connected.
  send(event, payload = null, { room, timeout } = {}) {
    if (this.#stopped) return Promise.reject(this.#stoppedError());
    if (!this.#isOpen() && this.#queued() >= this.#opts.queueLimit) {
      return Promise.reject(new SwitchboardError("queue_full", `${this.#opts.queueLimit} events are already waiting for the connection`));
    }
    const msg = { event, payload, ref: String(this.#nextRef++) };
    if (room != null) msg.room = room;
    return new Promise((resolve, reject) => {
      const p = { msg, kind: "event", resolve, reject, timer: null, sent: false, timeout: timeout ?? this.#opts.ackTimeout };
      this.#pending.set(msg.ref, p);
      if (this.#isOpen()) this.#transmit(p);
    });
  }

  // emit sends an event without a ref: no answer, and nothing at all
  // while not connected (it returns false then). For what is worth only
  // now, such as "typing".
  emit(event, payload = null, { room } = {}) {
    if (!this.#isOpen()) return false;
    const msg = { event, payload };
    if (room != null) msg.room = room;
    this.#ws.send(this.#codec.encode(msg));
    return true;
  }

  // join joins a room and returns a promise of the server's "joined"
  // payload, {room, recovered, epoch, offset}; before the socket opens,
  // the join is sent when it opens. With history (the default) the room's
  // retained messages come first, as events.
  join(room, { history = true } = {}) {
    if (this.#stopped) return Promise.reject(this.#stoppedError());
    let st = this.#rooms.get(room);
    if (st && st.leave) return st.leave.then(() => this.join(room, { history }));
    if (!st) {
      st = { epoch: null, offset: 0, history, here: false, inflight: null, joins: [], leave: null, since: false, gap: null };
      this.#rooms.set(room, st);
    }
    return new Promise((resolve, reject) => {
      st.joins.push({ resolve, reject });
      if (this.#isOpen() && !st.inflight) this.#sendJoin(room, st);
    });
  }

  // leave leaves a room and returns a promise of the server's "left"
  // payload, {room}; the room is kept, and its messages delivered, until
  // then. A room that the connection is not in (offline, or its join not
  // sent yet) is forgotten at once.
  leave(room) {
    const st = this.#rooms.get(room);
    if (!st) return Promise.resolve({ room });
    if (st.leave) return st.leave;
    if (!this.#isOpen() || (!st.here && !st.inflight)) {
      this.#forget(room, new SwitchboardError("left", "left the room before it was joined"));
      return Promise.resolve({ room });
    }
    st.leave = new Promise((resolve, reject) => {
      const msg = { event: "leave", payload: { room }, ref: String(this.#nextRef++) };
      const p = { msg, kind: "leave", room, resolve, reject, timer: null, sent: false, timeout: this.#opts.ackTimeout };
      this.#pending.set(msg.ref, p);
      this.#transmit(p);
    });
    return st.leave;
  }

  // close closes the connection with 1000 and stops for good: waiting
  // events and joins fail with code "closed".
  close() {
    if (this.#stopped) return;
    const ws = this.#ws;
    this.#stop({ status: "closed", code: 1000, reason: "" }, new SwitchboardError("closed", "the client was closed"));
    if (ws) ws.close(1000);
  }

  async #connect() {
    this.#timer = null;
    if (this.#stopped) return;
    const generation = ++this.#generation;
    this.#setStatus({ status: "connecting" });
    let url;
    try {
      url = typeof this.#url === "function" ? await this.#url() : this.#url;
      const u = new URL(url, globalThis.location?.href);
      if (this.#opts.token) {
        u.searchParams.set(this.#opts.tokenParam, await this.#opts.token());
      }
      u.searchParams.set("sb_session", this.#session);
      url = u.href;
    } catch (err) {
      if (!this.#stopped && generation === this.#generation) this.#retry(1006, "no token: " + (err && err.message));
      return;
    }
    if (this.#stopped || generation !== this.#generation) return;
    let ws;
    try {
      ws = new this.#WebSocket(url, [this.#codec.subprotocol]);
    } catch (err) {
      // A malformed URL: trying again cannot help.
      this.#stop({ status: "closed", code: 1002, reason: String(err && err.message) }, new SwitchboardError("closed", "cannot connect: " + (err && err.message)));
      return;
    }
    if (this.#codec.binary) ws.binaryType = "arraybuffer";
    this.#ws = ws;
    ws.onopen = () => this.#opened();
    ws.onmessage = (e) => this.#receive(e.data);
    ws.onclose = (e) => this.#closed(e.code, e.reason);
    ws.onerror = () => {}; // a close follows
  }

  #opened() {
    this.#openedAt = this.#lastSeen = Date.now();
    // Rooms first: the server answers in order, so events sent again
    // below find their rooms joined. Then the page hears of it, and what
    // it sends goes out after them.
    for (const [room, st] of this.#rooms) this.#sendJoin(room, st);
    for (const p of this.#pending.values()) if (p.kind === "event") this.#transmit(p);
    this.#beat();
    this.#setStatus({ status: "open" });
  }

  #closed(code, reason) {
    const ws = this.#ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    this.#ws = null;
    clearTimeout(this.#beatTimer);
    this.#beatRef = null;
    if (this.#openedAt && Date.now() - this.#openedAt >= STABLE) this.#attempt = 0;
    this.#openedAt = 0;
    // A connection that ended is in no room: a leave in flight is done,
    // a join in flight goes again on the next connection.
    for (const [room, st] of this.#rooms) {
      st.here = false;
      st.inflight = null;
      if (st.leave) this.#rooms.delete(room);
    }
    for (const [ref, p] of this.#pending) {
      clearTimeout(p.timer);
      p.timer = null;
      if (p.kind === "leave") {
        this.#pending.delete(ref);
        p.resolve({ room: p.room });
      } else if (p.kind === "join") {
        this.#pending.delete(ref);
      } else if (code === 1009 && p.sent) {
        // The server closed on a message over its read limit: sending
        // the events in flight again could only repeat that.
        this.#pending.delete(ref);
        p.reject(new SwitchboardError("too_large", "the server refused a message over its size limit"));
      }
      p.sent = false;
    }
    if (REFUSED.has(code)) {
      this.#stop({ status: "refused", code, reason }, new SwitchboardError("refused", reason || "the server refused the connection"));
      return;
    }
    if (FINAL.has(code)) {
      this.#stop({ status: "closed", code, reason }, new SwitchboardError("closed", reason || "the connection was closed"));
      return;
    }
    this.#retry(code, reason);
  }

  #retry(code, reason) {
    const { backoff, maxBackoff } = this.#opts;
    let base = Math.min(maxBackoff, backoff * 2 ** this.#attempt++);
    if (SLOW.has(code)) base = Math.min(3 * maxBackoff, 4 * base);
    // Jitter, so that the clients of a restarted server do not come back
    // all at once: 1012 at once within the first step, others within
    // the second half of the wait.
    const delay = code === 1012 ? Math.random() * backoff : base / 2 + (Math.random() * base) / 2;
    if (globalThis.navigator?.onLine === false) {
      // Wait for the browser's "online" event, and try now and then in
      // case it never comes.
      this.#setStatus({ status: "offline", code, reason });
      this.#timer = setTimeout(() => this.#connect(), maxBackoff);
      return;
    }
    this.#setStatus({ status: "reconnecting", code, reason, delay: Math.round(delay) });
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  #stop(status, err) {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#beatTimer);
    globalThis.removeEventListener?.("online", this.#online);
    const ws = this.#ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      this.#ws = null;
    }
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      if (p.kind === "leave") p.resolve({ room: p.room });
      else if (p.kind === "event") p.reject(err);
    }
    this.#pending.clear();
    for (const room of [...this.#rooms.keys()]) this.#forget(room, err);
    this.#stoppedErr = err;
    this.#setStatus(status);
    if (status.status === "refused") this.#emitLocal("refused", { code: status.code, reason: status.reason });
  }

  #stoppedErr = null;

  #stoppedError() {
    return this.#stoppedErr ?? new SwitchboardError("closed", "the client was closed");
  }

  #isOpen() {
    return this.#ws !== null && this.#ws.readyState === 1 && this.#openedAt !== 0;
  }

  #queued() {
    let n = 0;
    for (const p of this.#pending.values()) if (p.kind === "event") n++;
    return n;
  }

  #transmit(p) {
    p.sent = true;
    this.#ws.send(this.#codec.encode(p.msg));
    p.timer = setTimeout(() => {
      this.#pending.delete(p.msg.ref);
      if (p.kind === "join") this.#joinFailed(p.room, new SwitchboardError("timeout", "no answer from the server"), false);
      else p.reject(new SwitchboardError("timeout", "no answer from the server"));
    }, p.timeout);
  }

  #sendJoin(room, st) {
    // With a position, ask for what came after it; else for the history
    // (or nothing).
    st.since = st.epoch !== null;
    const payload = st.since ? { room, since: { epoch: st.epoch, offset: st.offset } } : { room, history: st.history };
    const msg = { event: "join", payload, ref: String(this.#nextRef++) };
    const p = { msg, kind: "join", room, resolve: null, reject: null, timer: null, sent: false, timeout: this.#opts.ackTimeout };
    st.inflight = msg.ref;
    this.#pending.set(msg.ref, p);
    this.#transmit(p);
  }

  // #joinFailed rejects a room's joins; a refusal forgets the room (a
  // timeout keeps it for the next connection). A rejoin that nobody waits
  // for is reported as an "error" event with the room.
  #joinFailed(room, err, refused) {
    const st = this.#rooms.get(room);
    if (!st) return;
    st.inflight = null;
    const waiting = st.joins.length > 0;
    if (refused) this.#forget(room, err);
    else for (const j of st.joins.splice(0)) j.reject(err);
    if (!waiting && refused) this.#dispatch({ event: "error", payload: { code: err.code, error: err.message }, room });
  }

  #forget(room, err) {
    const st = this.#rooms.get(room);
    if (!st) return;
    this.#rooms.delete(room);
    clearTimeout(st.gap && st.gap.timer);
    for (const j of st.joins.splice(0)) j.reject(err);
  }

  #receive(data) {
    this.#lastSeen = Date.now();
    let msg;
    try {
      msg = this.#codec.decode(data);
    } catch {
      return; // not an envelope: ignored, as unknown fields and events are
    }
    if (!msg || typeof msg !== "object" || typeof msg.event !== "string") return;
    if (msg.ref != null) {
      const ref = String(msg.ref);
      if (ref === this.#beatRef) {
        this.#beatRef = null;
        return; // whatever the answer, the connection is alive
      }
      // The answer to a later event comes after the replay of an earlier
      // join: what a rejoin missed can be counted now.
      this.#flushGaps();
      const p = this.#pending.get(ref);
      if (p && this.#answer(ref, p, msg)) return;
    }
    if (msg.room != null && msg.offset != null && !this.#position(msg)) return;
    this.#dispatch(msg);
  }

  // #answer settles the event that msg answers; it reports true when msg
  // is not to be dispatched as well (an error, which the promise carries).
  #answer(ref, p, msg) {
    this.#pending.delete(ref);
    clearTimeout(p.timer);
    const failed = msg.event === "error";
    const err = failed && new SwitchboardError(String(msg.payload?.code ?? "internal"), String(msg.payload?.error ?? "error"));
    if (p.kind === "join") {
      const st = this.#rooms.get(p.room);
      if (!st || st.inflight !== ref) return failed;
      if (failed) {
        this.#joinFailed(p.room, err, true);
        return true;
      }
      if (msg.event === "joined" && msg.payload) this.#joined(p.room, st, msg.payload);
      for (const j of st.joins.splice(0)) j.resolve(msg.payload);
      return false;
    }
    if (p.kind === "leave") {
      const st = this.#rooms.get(p.room);
      if (failed) {
        if (st) st.leave = null;
        p.reject(err);
        return true;
      }
      if (st && st.leave) this.#forget(p.room, new SwitchboardError("left", "the room was left"));
      p.resolve(msg.payload ?? { room: p.room });
      return false;
    }
    if (failed) p.reject(err);
    else p.resolve(msg);
    return failed;
  }

  // #joined follows PROTOCOL.md section 6, step 1.
  #joined(room, st, p) {
    st.inflight = null;
    st.here = true;
    if (st.since && !p.recovered) {
      if (p.epoch === st.epoch) {
        // Lost in this epoch: the replay that follows shows from where
        // the history still holds the room's messages.
        st.gap = { from: st.offset, top: p.offset, timer: setTimeout(() => this.#flushGap(room, null), 1000) };
      } else {
        this.#emitLocal("missed", { room, epoch: p.epoch, missed: null });
      }
    }
    const follows = st.since || st.history;
    if (!p.recovered || p.epoch !== st.epoch) st.offset = follows ? 0 : p.offset;
    st.epoch = p.epoch;
  }

  // #position follows PROTOCOL.md section 6, step 2, for a room message;
  // it reports false for a duplicate.
  #position(msg) {
    const st = this.#rooms.get(msg.room);
    if (!st || st.epoch === null) return true;
    const epoch = msg.epoch ?? st.epoch; // a server may leave epochs out
    if (st.gap) {
      if (epoch === st.epoch && msg.offset <= st.gap.from) return false;
      this.#flushGap(msg.room, epoch === st.epoch ? msg.offset : null);
    }
    if (epoch === st.epoch && msg.offset <= st.offset) return false;
    if (epoch !== st.epoch) this.#emitLocal("missed", { room: msg.room, epoch, missed: null });
    st.epoch = epoch;
    st.offset = msg.offset;
    return true;
  }

  // #flushGap reports what a rejoin missed, once the first message after
  // it (at offset next) or the lack of one tells.
  #flushGap(room, next) {
    const st = this.#rooms.get(room);
    if (!st || !st.gap) return;
    const { from, top, timer } = st.gap;
    clearTimeout(timer);
    st.gap = null;
    // A first message past the room's top is live: nothing was replayed.
    const missed = next === null || next > top ? top - from : next - from - 1;
    this.#emitLocal("missed", { room, epoch: st.epoch, missed: Math.max(0, missed) });
  }

  #flushGaps() {
    for (const [room, st] of this.#rooms) if (st.gap && st.inflight === null) this.#flushGap(room, null);
  }

  #beat() {
    clearTimeout(this.#beatTimer);
    const interval = this.#opts.heartbeat;
    if (!interval || !this.#isOpen()) return;
    const now = Date.now();
    if (this.#beatRef !== null && this.#lastSeen < this.#beatSentAt) {
      const due = this.#beatSentAt + interval;
      if (now >= due) return this.#dead();
      this.#beatTimer = setTimeout(() => this.#beat(), due - now);
      return;
    }
    this.#beatRef = null;
    const due = this.#lastSeen + interval;
    if (now >= due) {
      this.#beatRef = "hb" + ++this.#beats;
      this.#beatSentAt = now;
      this.#ws.send(this.#codec.encode({ event: this.#opts.heartbeatEvent, payload: null, ref: this.#beatRef }));
      this.#beatTimer = setTimeout(() => this.#beat(), interval);
      return;
    }
    this.#beatTimer = setTimeout(() => this.#beat(), due - now);
  }

  // #dead replaces a connection that stopped answering: closing it may
  // take as long again, so the client does not wait for its close.
  #dead() {
    try {
      this.#ws.close(4002, "no answer to the heartbeat");
    } catch {
      // closing is only a courtesy here
    }
    this.#closed(4002, "no answer to the heartbeat"); // detaches it
  }

  #setStatus(status) {
    this.#status = status.status;
    this.#emitLocal("status", status);
  }

  #emitLocal(event, payload) {
    this.#dispatch({ event, payload });
  }

  #dispatch(msg) {
    for (const fn of [...(this.#handlers.get(msg.event) || [])]) {
      try {
        fn(msg.payload, msg);
      } catch (err) {
        // One handler's failure stops neither the others nor the client.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}
