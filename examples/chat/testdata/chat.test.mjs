// switchboard.js against the real chat server, whose URL TestJavaScriptClient
// passes in CHAT_URL; each test uses rooms of its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Switchboard } from "../static/switchboard.js";
import { msgpackCodec } from "../static/msgpack.js";

const base = (process.env.CHAT_URL || "").replace(/^http/, "ws") + "/ws?name=";

function client(t, name, options = {}) {
  const sb = new Switchboard(base + encodeURIComponent(name), { backoff: 20, ...options });
  t.after(() => sb.close());
  return sb;
}

async function eventually(fn) {
  while (!fn()) await new Promise((r) => setTimeout(r, 5));
}

test("two users, one on JSON and one on msgpack, talk in a room", async (t) => {
  const ada = client(t, "ada");
  const bob = client(t, "bob", { codec: msgpackCodec });
  const presence = [];
  ada.on("presence", (p, m) => m.room === "talk" && presence.push(p));
  // Joined before the sockets open: sent when they do.
  const joined = await ada.join("talk");
  assert.equal(joined.room, "talk");
  assert.equal(joined.recovered, false);
  await bob.join("talk");
  await eventually(() => presence.some((p) => p.joined === "bob"));

  const heard = bob.once("message");
  const ack = await ada.send("message", { text: "hi bob" }, { room: "talk" });
  assert.equal(ack.event, "ack");
  const m = await heard;
  assert.equal(m.user, "ada");
  assert.equal(m.text, "hi bob");
  assert.equal(typeof m.time, "number");

  // Typing is for the others in the room, and is not saved.
  const typing = ada.once("typing");
  assert.equal(bob.emit("typing", null, { room: "talk" }), true);
  assert.deepEqual(await typing, { user: "bob" });

  // A leave is confirmed, and the others are told.
  assert.deepEqual(await bob.leave("talk"), { room: "talk" });
  assert.deepEqual(bob.rooms, []);
  await eventually(() => presence.some((p) => p.left === "bob"));
});

test("errors are the server's plain words, once", async (t) => {
  const ada = client(t, "ada");
  const errors = [];
  ada.on("error", (p) => errors.push(p));
  await ada.join("limits");
  await assert.rejects(ada.send("message", { text: "é".repeat(1001) }, { room: "limits" }), (err) => {
    assert.equal(err.code, "bad_request");
    assert.equal(err.message, "a message is 1 to 2000 bytes");
    return true;
  });
  await assert.rejects(ada.send("message", { text: "hi" }, { room: "not-joined" }), (err) => err.code === "forbidden");
  await assert.rejects(ada.send("typing", null, { room: "not-joined" }), (err) => err.code === "forbidden");
  await assert.rejects(ada.join("dm:bob:carol"), (err) => err.code === "forbidden");
  assert.deepEqual(errors, []);
});

test("a refused name is final, with the server's reason", async (t) => {
  const sb = client(t, " ");
  const refused = await sb.once("refused");
  assert.deepEqual(refused, { code: 1008, reason: "pick a name of 1 to 40 characters" });
  assert.equal(sb.status, "refused");
});

test("heartbeats are answered by the chat server as it is", async (t) => {
  const sb = client(t, "ada", { heartbeat: 200 });
  const statuses = [];
  sb.on("status", (s) => statuses.push(s.status));
  await sb.join("beats");
  await new Promise((r) => setTimeout(r, 1000)); // several heartbeats
  assert.deepEqual(statuses, ["connecting", "open"]);
});
