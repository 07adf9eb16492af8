// switchboard.js: a small dependency-free client for Switchboard's event
// protocol ({"event", "payload", "ref", "room", "offset", "epoch"} in
// JSON). Copy it freely. It connects, routes events to handlers, turns
// acks into promises, joins rooms, reconnects with exponential backoff and
// jitter, and on reconnecting rejoins each room from the last (epoch,
// offset) it saw, so that the server sends what was missed.
//
// Offsets compare only within an epoch. When a room's history was lost
// or flushed on the server, its offsets start again in a new epoch: the
// first message of the new epoch is delivered (not dropped as an old
// offset), becomes the room's position, and a "reset" event with
// {room, epoch} tells the page that some messages may be missing; so does
// a rejoin the server could not recover.
//
//   import { Switchboard } from "/switchboard.js";
//   const sb = new Switchboard("ws://" + location.host + "/ws?name=ada");
//   sb.on("message", (payload, msg) => show(msg.room, payload));
//   sb.on("reset", ({ room }) => notice(room, "some messages may be missing"));
//   sb.on("refused", ({ reason }) => alert(reason)); // no reconnect after it
//   await sb.join("lobby");
//   await sb.send("message", { text: "hi" }, { room: "lobby" });

// REFUSED are the close codes that refuse the connection for good (1008
// policy violation, 4004 unauthorized): no reconnect, and a "refused"
// event with {code, reason} instead. A browser cannot read the HTTP
// status of a refused handshake, so a server that refuses a connection
// accepts it and closes it with one of these and a reason.
const REFUSED = [1008, 4004];

export class Switchboard {
  constructor(url, { onStatus = () => {}, backoff = 500, maxBackoff = 10000, ackTimeout = 10000 } = {}) {
    this.url = url;
    this.onStatus = onStatus;
    this.backoff = backoff;
    this.maxBackoff = maxBackoff;
    this.ackTimeout = ackTimeout;
    this.handlers = new Map(); // event -> [fn]
    this.pending = new Map(); // ref -> {resolve, reject, timer}
    this.rooms = new Map(); // room -> {epoch, offset, history}
    this.nextRef = 1;
    this.attempt = 0;
    this.closed = false;
    this.connect();
  }

  connect() {
    this.timer = null;
    if (this.closed) return;
    const ws = new WebSocket(this.url, ["switchboard.v1.json"]);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.onStatus("open");
      for (const room of this.rooms.keys()) this.rejoin(room).catch(() => {});
    };
    ws.onmessage = (e) => this.dispatch(JSON.parse(e.data));
    ws.onclose = (e) => {
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error("disconnected"));
      }
      this.pending.clear();
      if (REFUSED.includes(e.code)) {
        // Final: trying again cannot help. The server said why.
        this.closed = true;
        this.onStatus("refused", e.reason);
        for (const fn of this.handlers.get("refused") || []) fn({ code: e.code, reason: e.reason });
        return;
      }
      this.onStatus("closed", e.code);
      if (!this.closed) this.reconnect();
    };
  }

  reconnect() {
    const base = Math.min(this.maxBackoff, this.backoff * 2 ** this.attempt++);
    const delay = base / 2 + Math.random() * (base / 2); // jitter: no thundering herd
    this.onStatus("reconnecting", delay);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  dispatch(msg) {
    let reset = null;
    if (msg.event === "joined") {
      const st = this.rooms.get(msg.payload.room);
      if (st) {
        // A rejoin that could not recover may have missed messages.
        if (st.epoch && !msg.payload.recovered) reset = { room: msg.payload.room, epoch: msg.payload.epoch };
        // Missed (or retained) messages follow and move the offset on;
        // with nothing to follow, the room's top is where we are.
        const follows = msg.payload.recovered || st.history;
        st.offset = follows ? (st.epoch === msg.payload.epoch ? st.offset : 0) : msg.payload.offset;
        st.epoch = msg.payload.epoch;
      }
    } else if (msg.room && msg.offset && this.rooms.has(msg.room)) {
      // Offsets only move forward within an epoch: a message at or below
      // the last one seen in the same epoch is a duplicate (a replay that
      // overlaps what arrived live) and is dropped. A message of another
      // epoch starts the room's new position (a server that sends no
      // epoch keeps the one we have).
      const st = this.rooms.get(msg.room);
      const epoch = msg.epoch || st.epoch;
      if (st.epoch && epoch === st.epoch && msg.offset <= st.offset) return;
      if (st.epoch && epoch !== st.epoch) reset = { room: msg.room, epoch };
      st.epoch = epoch;
      st.offset = msg.offset;
    }
    if (reset) for (const fn of this.handlers.get("reset") || []) fn(reset);
    if (msg.ref && this.pending.has(msg.ref)) {
      const p = this.pending.get(msg.ref);
      this.pending.delete(msg.ref);
      clearTimeout(p.timer);
      if (msg.event === "error") p.reject(Object.assign(new Error(msg.payload && msg.payload.error), { code: msg.payload && msg.payload.code }));
      else p.resolve(msg);
    }
    for (const fn of this.handlers.get(msg.event) || []) fn(msg.payload, msg);
  }

  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(fn);
    return this;
  }

  // send an event; the promise settles with the reply (or ack) or an error
  // (for an error event, err.code is its code: "forbidden", say).
  send(event, payload = null, { room } = {}) {
    const ref = String(this.nextRef++);
    const msg = { event, payload, ref };
    if (room) msg.room = room;
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error("not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new Error("no answer"));
      }, this.ackTimeout);
      this.pending.set(ref, { resolve, reject, timer });
      this.ws.send(JSON.stringify(msg));
    });
  }

  // join a room; with history, the room's retained messages come first.
  // Before the connection is open, the room is joined as soon as it opens.
  join(room, { history = true } = {}) {
    if (!this.rooms.has(room)) this.rooms.set(room, { epoch: null, offset: 0, history });
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return Promise.resolve(null);
    return this.rejoin(room);
  }

  rejoin(room) {
    const st = this.rooms.get(room);
    const payload = st.epoch ? { room, since: { epoch: st.epoch, offset: st.offset } } : { room, history: st.history };
    return this.send("join", payload);
  }

  leave(room) {
    this.rooms.delete(room);
    return this.send("leave", { room });
  }

  close() {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }
}
