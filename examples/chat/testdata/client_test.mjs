// Checks switchboard.js with a mock WebSocket: offsets only move forward,
// duplicates are dropped, a reconnect rejoins from the last offset, a new
// epoch is followed and reported,
// close() during the reconnect delay stops reconnecting, and a refusal
// is reported and not retried. Run by
// TestJavaScriptClient: node client_test.mjs path/to/switchboard.js
let sockets = [];
globalThis.WebSocket = class {
  static OPEN = 1;
  constructor(url) { this.url = url; this.readyState = 0; this.sent = []; sockets.push(this); setTimeout(() => { this.readyState = 1; this.onopen && this.onopen(); }, 0); }
  send(m) { this.sent.push(JSON.parse(m)); }
  close(code, reason) { this.readyState = 3; this.onclose && this.onclose({ code: code ?? 1006, reason: reason ?? "" }); }
  deliver(m) { this.onmessage({ data: JSON.stringify(m) }); }
};
const { Switchboard } = await import(process.argv[2]);
const sb = new Switchboard("ws://x/ws", { backoff: 5 });
const seen = [];
sb.on("message", (p, m) => seen.push(m.offset));
await new Promise((r) => setTimeout(r, 10));
sb.join("r1");
const ws = sockets[0];
const join = ws.sent.find((m) => m.event === "join");
ws.deliver({ event: "joined", payload: { room: "r1", recovered: false, epoch: "E", offset: 1 }, ref: join.ref });
ws.deliver({ event: "message", payload: "m2", room: "r1", offset: 2 });
ws.deliver({ event: "message", payload: "m2 again", room: "r1", offset: 2 });
ws.deliver({ event: "message", payload: "m3", room: "r1", offset: 3 });
ws.close(1006); // network drop: reconnect, rejoin since 3
await new Promise((r) => setTimeout(r, 50));
const rejoin = sockets[1].sent.find((m) => m.event === "join");
if (JSON.stringify(seen) !== "[2,3]") throw new Error("offsets seen " + JSON.stringify(seen));
if (!rejoin || rejoin.payload.since.offset !== 3 || rejoin.payload.since.epoch !== "E") throw new Error("rejoin " + JSON.stringify(rejoin));
sockets[1].close(1006);
sb.close(); // during the reconnect delay
await new Promise((r) => setTimeout(r, 100));
if (sockets.length !== 2) throw new Error("reconnected after close(): " + sockets.length + " sockets");
// The server lost the room's history: offsets start again in a new epoch.
// Its messages are not dropped as old offsets, the page is told, and
// duplicates are dropped within the new epoch only.
{
  const sb = new Switchboard("ws://x/ws", { backoff: 5 });
  const seen = [], resets = [];
  sb.on("message", (p, m) => seen.push(m.epoch + ":" + m.offset));
  sb.on("reset", (p) => resets.push(p));
  await new Promise((r) => setTimeout(r, 10));
  sb.join("r1");
  const ws = sockets[sockets.length - 1];
  const join = ws.sent.find((m) => m.event === "join");
  ws.deliver({ event: "joined", payload: { room: "r1", recovered: false, epoch: "E", offset: 5 }, ref: join.ref });
  ws.deliver({ event: "message", payload: "m6", room: "r1", offset: 6, epoch: "E" });
  ws.deliver({ event: "message", payload: "n1", room: "r1", offset: 1, epoch: "F" });
  ws.deliver({ event: "message", payload: "n1 again", room: "r1", offset: 1, epoch: "F" });
  ws.deliver({ event: "message", payload: "n2", room: "r1", offset: 2, epoch: "F" });
  if (JSON.stringify(seen) !== '["E:6","F:1","F:2"]') throw new Error("across epochs seen " + JSON.stringify(seen));
  if (JSON.stringify(resets) !== '[{"room":"r1","epoch":"F"}]') throw new Error("reset events " + JSON.stringify(resets));
  const n = sockets.length;
  ws.close(1006);
  await new Promise((r) => setTimeout(r, 50));
  const rejoin = sockets[n].sent.find((m) => m.event === "join");
  if (!rejoin || rejoin.payload.since.offset !== 2 || rejoin.payload.since.epoch !== "F") throw new Error("rejoin after a reset " + JSON.stringify(rejoin));
  // A rejoin the server could not recover is a reset too.
  sockets[n].deliver({ event: "joined", payload: { room: "r1", recovered: false, epoch: "G", offset: 0 }, ref: rejoin.ref });
  if (resets.length !== 2 || resets[1].epoch !== "G") throw new Error("reset events " + JSON.stringify(resets));
  sb.close();
}
// A refusal (1008 with a reason) is final: a "refused" event with the
// reason, and no reconnect.
const refusals = [];
const before = sockets.length;
const sb2 = new Switchboard("ws://x/ws?name=%20", { backoff: 5 });
sb2.on("refused", (p) => refusals.push(p));
await new Promise((r) => setTimeout(r, 10));
sockets[before].close(1008, "pick a name of 1 to 40 characters");
await new Promise((r) => setTimeout(r, 100));
if (sockets.length !== before + 1) throw new Error("reconnected after a refusal: " + sockets.length + " sockets");
if (JSON.stringify(refusals) !== '[{"code":1008,"reason":"pick a name of 1 to 40 characters"}]') throw new Error("refused events " + JSON.stringify(refusals));
console.log("switchboard.js: all good");
