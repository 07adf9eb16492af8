// Typed usage of switchboard.js, checked by tsc --noEmit in CI (.ci/run):
// what a TypeScript page writes, and what its types must refuse.
import { Switchboard, SwitchboardError, jsonCodec, type Joined, type MissedEvent, type StatusEvent } from "../static/switchboard.js";
import { msgpackCodec, encode, decode } from "../static/msgpack.js";

// The chat's events: what the server sends, and what the page sends.
type ChatIn = {
  message: { user: string; text: string; time: number };
  presence: { users?: string[]; joined?: string; left?: string };
  typing: { user: string };
};
type ChatOut = {
  message: { text: string };
  typing: null;
};

const sb = new Switchboard<ChatIn, ChatOut>("ws://127.0.0.1:8080/ws?name=ada", {
  codec: msgpackCodec,
  heartbeat: 10_000,
  queueLimit: 50,
  token: async () => "secret",
});
const plain = new Switchboard(() => Promise.resolve("ws://127.0.0.1:8080/ws"), { codec: jsonCodec });

const off = sb.on("message", (p, msg) => {
  const text: string = p.text;
  const when = new Date(p.time);
  const room: string | undefined = msg.room;
  const offset: number | undefined = msg.offset;
  void [text, when, room, offset];
});
off();
sb.on("status", (s: StatusEvent) => {
  if (s.status === "reconnecting") console.log(s.delay);
  if (s.status === "refused") console.log(s.reason);
});
sb.on("missed", (m: MissedEvent) => console.log(m.room, m.missed ?? "some"));
sb.on("refused", ({ code, reason }) => console.log(code, reason));
sb.on("error", ({ code, error }) => console.log(code, error));
sb.once("typing", ({ user }) => console.log(user));

async function main(): Promise<void> {
  const j: Joined = await sb.join("lobby", { history: true });
  if (!j.recovered) console.log(j.epoch, j.offset);
  const presence = await sb.once("presence");
  console.log(presence.users?.length);
  try {
    const ack = await sb.send("message", { text: "hi" }, { room: "lobby", timeout: 5000 });
    console.log(ack.event, ack.ref);
  } catch (err) {
    if (err instanceof SwitchboardError && err.code === "queue_full") console.log("later");
  }
  const sent: boolean = sb.emit("typing", null, { room: "lobby" });
  await sb.leave("lobby");
  console.log(sent, sb.status, sb.rooms.join(), await plain.send("anything", { at: "all" }));
  const bytes: Uint8Array = encode({ a: 1 });
  console.log(decode(bytes));
  sb.close();
}
void main;

// What the types refuse:
// @ts-expect-error a message's payload is {text}
sb.send("message", { body: "hi" });
// @ts-expect-error no such event to send
sb.send("nudge", null);
// @ts-expect-error the payload of a message has no field "body"
sb.on("message", (p) => p.body);
// @ts-expect-error join takes a room's name
sb.join(42);
// @ts-expect-error status is read-only
sb.status = "open";
// @ts-expect-error no such option
new Switchboard("ws://x", { retries: 3 });
