// switchboard.js against a scripted server (fakeserver.mjs), for what the
// chat server does not do on demand: refusals, silent drops, late
// answers, lost messages, new epochs, msgpack. Run by
// TestJavaScriptClient with node --test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Switchboard, SwitchboardError } from "../static/switchboard.js";
import { encode, decode, msgpackCodec } from "../static/msgpack.js";
import { fakeServer } from "./fakeserver.mjs";

// setup starts a fake server and returns it with a client of it, both
// closed when the test ends.
async function setup(t, options = {}, serverOptions = {}) {
  const server = await fakeServer(serverOptions);
  const sb = new Switchboard(server.url + "/ws", { backoff: 20, maxBackoff: 100, ...options });
  const statuses = [];
  sb.on("status", (s) => statuses.push(s));
  t.after(() => {
    sb.close();
    return server.close();
  });
  return { server, sb, statuses };
}

// eventually polls until fn returns true.
async function eventually(fn) {
  while (!fn()) await new Promise((r) => setTimeout(r, 5));
}

// answerJoin answers the next join on conn with joined.
async function answerJoin(conn, joined) {
  const join = await conn.event("join");
  conn.send({ event: "joined", payload: { recovered: false, ...joined, room: join.payload.room }, ref: join.ref });
  return join;
}

test("a join before the socket opens is sent when it opens and settled by the answer", async (t) => {
  const { server, sb, statuses } = await setup(t);
  const joined = sb.join("lobby");
  assert.equal(sb.status, "connecting");
  const conn = await server.nextConn(0);
  assert.equal(conn.protocol, "switchboard.v1.json");
  const join = await answerJoin(conn, { epoch: "E", offset: 3 });
  assert.deepEqual(join.payload, { room: "lobby", history: true });
  assert.deepEqual(await joined, { room: "lobby", recovered: false, epoch: "E", offset: 3 });
  assert.deepEqual(statuses.map((s) => s.status), ["connecting", "open"]);
  assert.deepEqual(sb.rooms, ["lobby"]);
});

test("a refused join is an error with the protocol's code and forgets the room", async (t) => {
  const { server, sb } = await setup(t);
  const joined = sb.join("dm:alice:bob");
  const conn = await server.nextConn(0);
  const join = await conn.event("join");
  const errors = [];
  sb.on("error", (p) => errors.push(p));
  conn.send({ event: "error", payload: { code: "forbidden", error: "a dm:alice:bob room is only for alice and bob" }, ref: join.ref });
  await assert.rejects(joined, (err) => err instanceof SwitchboardError && err.code === "forbidden" && err.message === "a dm:alice:bob room is only for alice and bob");
  assert.deepEqual(sb.rooms, []);
  assert.deepEqual(errors, [], "an error that settles a promise is not an error event as well");
});

test("a refusal (1008 with a reason) is final: a refused status with the reason, and no reconnect", async (t) => {
  const { server, sb, statuses } = await setup(t);
  const refusals = [];
  sb.on("refused", (p) => refusals.push(p));
  const sent = sb.send("message", { text: "hi" });
  const conn = await server.nextConn(0);
  conn.close(1008, "pick a name of 1 to 40 characters");
  await assert.rejects(sent, (err) => err.code === "refused" && err.message === "pick a name of 1 to 40 characters");
  assert.deepEqual(refusals, [{ code: 1008, reason: "pick a name of 1 to 40 characters" }]);
  assert.deepEqual(statuses.at(-1), { status: "refused", code: 1008, reason: "pick a name of 1 to 40 characters" });
  assert.equal(sb.status, "refused");
  await new Promise((r) => setTimeout(r, 300)); // several backoffs
  assert.equal(server.conns.length, 1, "reconnected after a refusal");
  await assert.rejects(sb.join("lobby"), (err) => err.code === "refused");
});

test("close codes: 1003 stops, 4004 refuses, 1012 and 4000 reconnect", async (t) => {
  for (const [code, want] of [
    [1003, "closed"],
    [4004, "refused"],
    [1012, "reconnecting"],
    [4000, "reconnecting"],
  ]) {
    await t.test(String(code), async (t) => {
      const { server, statuses } = await setup(t);
      const conn = await server.nextConn(0);
      conn.close(code, "why");
      await eventually(() => statuses.length > 2);
      assert.equal(statuses[2].status, want);
      assert.equal(statuses[2].code, code);
      if (want === "reconnecting") await server.nextConn(1);
    });
  }
});

test("a silent drop is noticed by the heartbeat, and the client reconnects and rejoins", async (t) => {
  // Intervals long enough that a busy machine does not miss an answer.
  const { server, sb, statuses } = await setup(t, { heartbeat: 200 });
  sb.join("lobby", { history: false });
  const conn = await server.nextConn(0);
  await answerJoin(conn, { epoch: "E", offset: 7 });
  // A heartbeat after a silence is answered (here with the not_found of
  // a server without a handler for it), and the connection is kept.
  for (let i = 0; i < 2; i++) {
    const beat = await conn.event("heartbeat");
    conn.send({ event: "error", payload: { code: "not_found", error: "unknown event" }, ref: beat.ref });
  }
  assert.equal(server.conns.length, 1);
  conn.silence();
  const again = await server.nextConn(1);
  const rejoin = await again.event("join");
  assert.deepEqual(rejoin.payload, { room: "lobby", since: { epoch: "E", offset: 7 } });
  const lost = statuses.find((s) => s.status === "reconnecting");
  assert.equal(lost.code, 4002);
});

test("leave keeps the room until the server confirms", async (t) => {
  const { server, sb } = await setup(t);
  const seen = [];
  sb.on("message", (p) => seen.push(p));
  const joined = sb.join("lobby", { history: false });
  const conn = await server.nextConn(0);
  await answerJoin(conn, { epoch: "E", offset: 0 });
  await joined;
  let left = false;
  const leaving = sb.leave("lobby").then((p) => {
    left = true;
    return p;
  });
  const leave = await conn.event("leave");
  assert.deepEqual(leave.payload, { room: "lobby" });
  conn.send({ event: "message", payload: "still in", room: "lobby", offset: 1, epoch: "E" });
  await eventually(() => seen.length === 1);
  assert.equal(left, false);
  assert.deepEqual(sb.rooms, ["lobby"]);
  conn.send({ event: "left", payload: { room: "lobby" }, ref: leave.ref });
  assert.deepEqual(await leaving, { room: "lobby" });
  assert.deepEqual(sb.rooms, []);
});

test("events sent while offline are queued, bounded, and sent with their refs after the reconnect", async (t) => {
  const { server, sb, statuses } = await setup(t, { backoff: 200, maxBackoff: 200, queueLimit: 3 });
  const conn = await server.nextConn(0);
  await eventually(() => sb.status === "open");
  const inFlight = sb.send("echo", "in flight");
  const first = await conn.event("echo");
  conn.drop();
  await eventually(() => sb.status === "reconnecting");
  const a = sb.send("message", { text: "a" }, { room: "lobby" });
  const b = sb.send("message", { text: "b" }, { room: "lobby" });
  await assert.rejects(sb.send("message", { text: "c" }), (err) => err.code === "queue_full");
  const again = await server.nextConn(1);
  const resent = await again.event("echo");
  assert.equal(resent.ref, first.ref, "the event in flight goes again with its ref");
  const ma = await again.event("message");
  const mb = await again.event("message");
  assert.deepEqual([ma.payload, mb.payload, ma.room], [{ text: "a" }, { text: "b" }, "lobby"]);
  for (const m of [resent, ma, mb]) again.send({ event: "ack", payload: null, ref: m.ref });
  assert.equal((await inFlight).ref, first.ref);
  assert.equal((await a).event, "ack");
  assert.equal((await b).event, "ack");
  assert.ok(statuses.some((s) => s.status === "reconnecting" && s.code === 1006));
});

test("a rejoin that was not recovered reports how many messages were lost; a new epoch reports that some may be", async (t) => {
  const { server, sb } = await setup(t);
  const seen = [];
  const missed = [];
  sb.on("message", (p, m) => seen.push(m.epoch + ":" + m.offset));
  sb.on("missed", (p) => missed.push(p));
  sb.join("r1", { history: false });
  const conn = await server.nextConn(0);
  await answerJoin(conn, { epoch: "E", offset: 5 });
  conn.send({ event: "message", payload: "m6", room: "r1", offset: 6, epoch: "E" });
  conn.send({ event: "message", payload: "m6 again", room: "r1", offset: 6, epoch: "E" });
  await eventually(() => seen.length === 1);
  conn.drop();
  // The history now holds 9 and 10 only: 7 and 8 are lost.
  const again = await server.nextConn(1);
  const rejoin = await answerJoin(again, { epoch: "E", offset: 10 });
  assert.deepEqual(rejoin.payload.since, { epoch: "E", offset: 6 });
  again.send({ event: "message", payload: "m9", room: "r1", offset: 9, epoch: "E" });
  again.send({ event: "message", payload: "m10", room: "r1", offset: 10, epoch: "E" });
  // The history was flushed: a new epoch, whose offsets start again.
  again.send({ event: "message", payload: "n1", room: "r1", offset: 1, epoch: "F" });
  again.send({ event: "message", payload: "n1 again", room: "r1", offset: 1, epoch: "F" });
  again.send({ event: "message", payload: "n2", room: "r1", offset: 2, epoch: "F" });
  await eventually(() => seen.length === 5);
  assert.deepEqual(seen, ["E:6", "E:9", "E:10", "F:1", "F:2"]);
  assert.deepEqual(missed, [
    { room: "r1", epoch: "E", missed: 2 },
    { room: "r1", epoch: "F", missed: null },
  ]);
  // A rejoin in another epoch cannot count what was lost.
  again.drop();
  const third = await server.nextConn(2);
  const last = await answerJoin(third, { epoch: "G", offset: 0 });
  assert.deepEqual(last.payload.since, { epoch: "F", offset: 2 });
  await eventually(() => missed.length === 3);
  assert.deepEqual(missed[2], { room: "r1", epoch: "G", missed: null });
});

test("a rejoin that lost everything after the position, with nothing left to replay, counts it", async (t) => {
  const { server, sb } = await setup(t);
  const missed = [];
  sb.on("missed", (p) => missed.push(p));
  const joined = sb.join("r1", { history: false });
  const conn = await server.nextConn(0);
  await answerJoin(conn, { epoch: "E", offset: 2 });
  await joined;
  conn.drop();
  const again = await server.nextConn(1);
  await answerJoin(again, { epoch: "E", offset: 6 });
  again.send({ event: "presence", payload: { users: ["ada"] }, room: "r1" });
  again.send({ event: "message", payload: "m7", room: "r1", offset: 7, epoch: "E" }); // live
  await eventually(() => missed.length === 1);
  assert.deepEqual(missed, [{ room: "r1", epoch: "E", missed: 4 }]);
});

test("the token function is called before every connect, and the session is named in every handshake", async (t) => {
  let n = 0;
  const { server, sb } = await setup(t, { token: () => Promise.resolve("t" + ++n) });
  assert.match(sb.session, /^[A-Za-z0-9_-]{22}$/);
  const conn = await server.nextConn(0);
  assert.equal(conn.url, "/ws?token=t1&sb_session=" + sb.session);
  conn.drop();
  const again = await server.nextConn(1);
  assert.equal(again.url, "/ws?token=t2&sb_session=" + sb.session);
});

test("on, off and once", async (t) => {
  const { server, sb } = await setup(t);
  const conn = await server.nextConn(0);
  await eventually(() => sb.status === "open");
  const got = [];
  const each = (p) => got.push("each " + p);
  sb.on("news", each);
  const off = sb.on("news", (p) => got.push("until off " + p));
  sb.once("news", (p) => got.push("once " + p));
  const next = sb.once("news");
  conn.send({ event: "news", payload: 1 });
  assert.equal(await next, 1);
  off();
  conn.send({ event: "news", payload: 2 });
  await eventually(() => got.length === 4);
  sb.off("news", each);
  conn.send({ event: "news", payload: 3 });
  conn.send({ event: "done", payload: null });
  await sb.once("done");
  assert.deepEqual(got, ["each 1", "until off 1", "once 1", "each 2"]);
});

test("emit sends no ref, and nothing while offline", async (t) => {
  const { server, sb } = await setup(t);
  assert.equal(sb.emit("typing", null, { room: "lobby" }), false);
  const conn = await server.nextConn(0);
  await eventually(() => sb.status === "open");
  assert.equal(sb.emit("typing", null, { room: "lobby" }), true);
  assert.deepEqual(await conn.event("typing"), { event: "typing", payload: null, room: "lobby" });
});

test("msgpack: offered alone, binary frames both ways", async (t) => {
  const { server, sb } = await setup(t, { codec: msgpackCodec });
  const seen = [];
  sb.on("message", (p) => seen.push(p));
  const joined = sb.join("lobby");
  const conn = await server.nextConn(0);
  assert.equal(conn.protocol, "switchboard.v1.msgpack");
  await answerJoin(conn, { epoch: "E", offset: 0 });
  await joined;
  const payload = { text: "héllo", n: [1, -1, 300, -300, 70000, 2.5, 2 ** 40, null, true], bin: new Uint8Array([0, 255]) };
  conn.send({ event: "message", payload, room: "lobby", offset: 1, epoch: "E" });
  await eventually(() => seen.length === 1);
  assert.deepEqual(seen[0], payload);
  const sent = sb.send("message", { text: "hi" }, { room: "lobby" });
  const m = await conn.event("message");
  conn.send({ event: "ack", payload: null, ref: m.ref });
  await sent;
  assert.deepEqual(m, { event: "message", payload: { text: "hi" }, ref: m.ref, room: "lobby" });
  assert.ok(conn.frames.every((f) => f.opcode === 2), "every frame binary");
});

test("msgpack: values round-trip through every format", () => {
  const long = "x".repeat(70000);
  for (const v of [
    null, true, false, 0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER,
    -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, Number.MIN_SAFE_INTEGER,
    0.5, -1.25, 1e300, "", "é", "x".repeat(31), "x".repeat(32), "x".repeat(256), long,
    [], [1, [2, [3]]], new Array(16).fill(0), new Array(70000).fill(1),
    {}, { a: 1, b: { c: [null] } }, Object.fromEntries(Array.from({ length: 16 }, (_, i) => ["k" + i, i])),
    new Uint8Array(0), new Uint8Array(300).fill(7), 2n ** 63n, -(2n ** 63n),
  ]) {
    assert.deepEqual(decode(encode(v)), v);
  }
  assert.deepEqual(decode(encode({ a: undefined, b: 1 })), { b: 1 }, "undefined fields are left out, as in JSON");
  assert.equal(decode(encode(new Date(0))), "1970-01-01T00:00:00.000Z");
  const proto = decode(new Uint8Array([0x81, 0xa9, ...new TextEncoder().encode("__proto__"), 0x01]));
  assert.equal(Object.getPrototypeOf(proto), Object.prototype);
  assert.equal(proto["__proto__"], 1);
  for (const bad of [[0xc1], [0xa3, 0x61], [0x92, 0x01], [0xdd, 0xff, 0xff, 0xff, 0xff], [0x01, 0x02], new Array(200).fill(0x91)]) {
    assert.throws(() => decode(new Uint8Array(bad)), RangeError, JSON.stringify(bad.slice(0, 5)));
  }
});

test("what a handler of the open status sends goes out once, after the rejoins and the queue", async (t) => {
  const { server, sb } = await setup(t);
  sb.join("lobby");
  const queued = sb.send("echo", "queued");
  sb.on("status", ({ status }) => {
    if (status !== "open") return;
    sb.join("lobby"); // already on its way: not sent again
    sb.send("echo", "on open").catch(() => {}); // unanswered
  });
  const conn = await server.nextConn(0);
  const join = await answerJoin(conn, { epoch: "E", offset: 0 });
  const first = await conn.event("echo");
  const second = await conn.event("echo");
  assert.deepEqual([join.payload.room, first.payload, second.payload], ["lobby", "queued", "on open"]);
  conn.send({ event: "echo", payload: "queued", ref: first.ref });
  await queued;
  sb.send("echo", "last").catch(() => {}); // unanswered
  assert.equal((await conn.event("echo")).payload, "last");
  assert.equal(conn.received.filter((m) => m.event === "join").length, 1);
});

test("1009 fails the events in flight with too_large, and the client reconnects", async (t) => {
  const { server, sb } = await setup(t);
  const conn = await server.nextConn(0);
  await eventually(() => sb.status === "open");
  const big = sb.send("echo", "x".repeat(100));
  await conn.event("echo");
  conn.close(1009, "message too big");
  await assert.rejects(big, (err) => err.code === "too_large");
  const again = await server.nextConn(1);
  await eventually(() => sb.status === "open");
  assert.equal(again.received.filter((m) => m.event === "echo").length, 0, "the message too big was sent again");
});

test("an event without an answer fails with timeout; a leave while offline is done at once", async (t) => {
  const { server, sb } = await setup(t, { ackTimeout: 50, backoff: 1000, maxBackoff: 1000 });
  const joined = sb.join("lobby");
  const conn = await server.nextConn(0);
  await answerJoin(conn, { epoch: "E", offset: 0 });
  await joined;
  await assert.rejects(sb.send("echo", "nobody answers"), (err) => err.code === "timeout");
  conn.drop();
  await eventually(() => sb.status === "reconnecting");
  assert.deepEqual(await sb.leave("lobby"), { room: "lobby" });
  assert.deepEqual(sb.rooms, []);
});
