// chat.js: the chat page, on switchboard.js and the DOM alone. Rooms in a
// list (join, switch, leave, unread counts), messages with their time and
// the own marked, join and leave notices, who is typing, a notice when
// messages were missed, a banner for the connection, and one line in
// plain words for each failure.
import { Switchboard } from "/switchboard.js";

// The server's limits (main.go: checkName, maxMessage; a room's name is
// channels.Options.MaxGroupName bytes).
const MAX_NAME = 40; // characters, once trimmed
const MAX_MESSAGE = 2000; // bytes of UTF-8
const MAX_ROOM = 256; // bytes of UTF-8
const MAX_LINES = 500; // kept per room
const TYPING_EVERY = 2000; // ms between two "typing" events while typing
const TYPING_SHOWN = 4000; // ms a "typing" event is shown

const $ = (id) => document.getElementById(id);
const utf8 = new TextEncoder();
const bytes = (s) => utf8.encode(s).length;
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayAndClock = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

// ?codec=msgpack speaks switchboard.v1.msgpack instead of JSON.
const params = new URLSearchParams(location.search);
const codec = params.get("codec") === "msgpack" ? (await import("/msgpack.js")).msgpackCodec : undefined;

let sb = null;
let me = "";
let current = null; // the room shown
let lastTyping = 0;
let wasOpen = false;
// room -> {items: [li], unread, online: Set, typing: Map(user -> timer)}
const rooms = new Map();

function nameError(name) {
  const n = [...name].length; // characters, as the server counts them
  return n >= 1 && n <= MAX_NAME ? "" : "Pick a name of 1 to 40 characters.";
}

function roomError(room) {
  if (!room) return "Give the room a name.";
  if (bytes(room) > MAX_ROOM) return "A room's name is at most 256 bytes.";
  if (room.startsWith("events:")) return "Names that begin with events: are reserved.";
  return "";
}

// words turns a failure into plain words: the server's own words for the
// application's errors, which are written for people, and ours for the
// rest.
function words(err) {
  switch (err.code) {
    case "rate_limited":
      return "You are sending too fast; wait a moment.";
    case "timeout":
      return "The server did not answer in time.";
    case "queue_full":
      return "Too many messages are waiting for the connection; try again once it is back.";
    case "refused":
    case "closed":
      return "You are not connected.";
    case "unavailable":
      return "The server is busy; try again in a moment.";
    case "internal":
      return "Something went wrong on the server; try again.";
    case "too_large":
      return "That was too large for the server.";
  }
  const text = String(err.message || err.error || "it failed");
  return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text != null) e.textContent = text;
  return e;
}

function timeEl(ms) {
  const d = new Date(typeof ms === "number" ? ms : Date.now());
  const t = el("time", "", (d.toDateString() === new Date().toDateString() ? clock : dayAndClock).format(d));
  t.dateTime = d.toISOString();
  t.title = d.toLocaleString();
  return t;
}

// add puts a line in a room's log (the one shown, when room is null or
// unknown); counts says whether it is unread when the room is not shown.
function add(room, li, counts) {
  const st = rooms.get(room);
  if (!st) {
    $("log").append(li);
    li.scrollIntoView({ block: "end" });
    return;
  }
  st.items.push(li);
  if (st.items.length > MAX_LINES) st.items.shift().remove();
  if (room === current) {
    $("log").append(li);
    li.scrollIntoView({ block: "end" });
  } else if (counts) {
    st.unread++;
    renderRooms();
  }
}

function notice(room, cls, text) {
  const li = el("li", cls);
  li.append(timeEl(), document.createTextNode(text));
  add(room, li, false);
}

function fail(room, text) {
  notice(room, "error", text);
}

function save() {
  sessionStorage.setItem("chat", JSON.stringify({ name: me, rooms: [...rooms.keys()], current }));
  const q = new URLSearchParams({ name: me });
  if (current) q.set("room", current);
  if (codec) q.set("codec", "msgpack");
  history.replaceState(null, "", "?" + q);
}

function renderRooms() {
  const focused = document.activeElement && document.activeElement.closest("#rooms li");
  const focusKey = focused && focused.dataset.room + "|" + document.activeElement.className;
  const items = [];
  let unread = 0;
  for (const [room, st] of rooms) {
    unread += st.unread;
    const li = el("li");
    li.dataset.room = room;
    const open = el("button", "room");
    open.type = "button";
    open.setAttribute("aria-current", String(room === current));
    open.append(el("span", "name", "#" + room));
    if (st.unread) {
      const badge = el("span", "unread", String(st.unread));
      badge.append(el("span", "visually-hidden", " unread"));
      open.append(badge);
    }
    open.onclick = () => switchTo(room, true);
    const leave = el("button", "leave", "×");
    leave.type = "button";
    leave.title = "Leave #" + room;
    leave.setAttribute("aria-label", "Leave #" + room);
    leave.onclick = () => leaveRoom(room);
    li.append(open, leave);
    items.push(li);
  }
  $("rooms").replaceChildren(...items);
  $("rooms-toggle").textContent = unread ? `Rooms (${unread} unread)` : "Rooms";
  document.title = (unread ? `(${unread}) ` : "") + "Switchboard chat";
  if (focusKey) {
    const [room, cls] = focusKey.split("|");
    const again = [...$("rooms").children].find((li) => li.dataset.room === room);
    if (again) again.querySelector("." + cls.split(" ")[0])?.focus();
  }
}

function renderOnline() {
  const st = rooms.get(current);
  const users = st ? [...st.online].sort() : [];
  $("online-title").textContent = current ? `Online in #${current}` : "Online";
  $("online").replaceChildren(...users.map((u) => el("li", "", u === me ? u + " (you)" : u)));
}

function renderTyping() {
  const st = rooms.get(current);
  const names = st ? [...st.typing.keys()] : [];
  $("typing").textContent =
    names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : "Several people are typing…";
}

function switchTo(room, focus) {
  current = rooms.has(room) ? room : null;
  const st = rooms.get(current);
  if (st) st.unread = 0;
  $("room-title").textContent = current ? "#" + current : "No room: join one";
  // A new room's lines are not news: screen readers are not to read them
  // all out as if they had just arrived.
  $("log").setAttribute("aria-busy", "true");
  $("log").replaceChildren(...(st ? st.items : []));
  requestAnimationFrame(() => $("log").removeAttribute("aria-busy"));
  $("log").lastElementChild?.scrollIntoView({ block: "end" });
  $("text").disabled = $("send").disabled = !current;
  renderRooms();
  renderOnline();
  renderTyping();
  updateCount();
  save();
  closeSidebar();
  if (focus && current) $("text").focus();
}

async function joinRoom(room, show) {
  const err = roomError(room);
  if (err) return fail(current, err);
  if (!rooms.has(room)) rooms.set(room, { items: [], unread: 0, online: new Set(), typing: new Map() });
  if (show) switchTo(room, true);
  else renderRooms();
  save();
  try {
    await sb.join(room);
  } catch (e) {
    if (!rooms.has(room) || e.code === "closed" || e.code === "refused") return;
    forget(room);
    fail(current, `Could not join #${room}: ${words(e)}`);
  }
}

async function leaveRoom(room) {
  try {
    await sb.leave(room);
  } catch (e) {
    return fail(room, `Could not leave #${room}: ${words(e)}`);
  }
  forget(room);
}

function forget(room) {
  const st = rooms.get(room);
  if (!st) return;
  for (const timer of st.typing.values()) clearTimeout(timer);
  rooms.delete(room);
  if (current === room) switchTo(rooms.keys().next().value ?? null, false);
  else renderRooms();
  save();
}

function onMessage(p, msg) {
  const st = rooms.get(msg.room);
  if (!st || !p || typeof p.text !== "string") return;
  stopTyping(st, p.user);
  const own = p.user === me;
  const li = el("li", own ? "msg own" : "msg");
  li.append(timeEl(p.time), el("span", "who", p.user), el("span", "text", p.text));
  add(msg.room, li, !own);
}

// Presence: the room's users on joining ({users}), then each change
// ({joined} or {left}), which the log tells as well.
function onPresence(p, msg) {
  const st = rooms.get(msg.room);
  if (!st) return;
  if (p.users) st.online = new Set(p.users);
  if (p.joined && !st.online.has(p.joined)) {
    st.online.add(p.joined);
    notice(msg.room, "notice", `${p.joined} joined`);
  }
  if (p.left && st.online.has(p.left)) {
    st.online.delete(p.left);
    stopTyping(st, p.left);
    notice(msg.room, "notice", `${p.left} left`);
  }
  if (msg.room === current) renderOnline();
}

function onTyping(p, msg) {
  const st = rooms.get(msg.room);
  if (!st || !p || p.user === me) return;
  clearTimeout(st.typing.get(p.user));
  st.typing.set(
    p.user,
    setTimeout(() => stopTyping(st, p.user), TYPING_SHOWN),
  );
  if (msg.room === current) renderTyping();
}

function stopTyping(st, user) {
  if (!st.typing.has(user)) return;
  clearTimeout(st.typing.get(user));
  st.typing.delete(user);
  renderTyping();
}

function onMissed({ room, missed }) {
  if (missed === 0) return;
  const text =
    missed === null
      ? "Some messages may be missing: the room's history was reset while you were away."
      : `${missed} ${missed === 1 ? "message was" : "messages were"} missed: the room's history no longer holds ${missed === 1 ? "it" : "them"}.`;
  notice(room, "notice missed", text);
}

function onStatus({ status, delay, reason }) {
  const banner = $("banner");
  banner.classList.toggle("bad", status === "refused" || status === "closed");
  if (status === "open") wasOpen = true;
  const text = {
    open: "",
    connecting: wasOpen ? "Connection lost. Reconnecting…" : "Connecting…",
    reconnecting: `Connection lost. Reconnecting in ${Math.max(1, Math.round((delay || 0) / 1000))} s… Messages you send now go out once it is back.`,
    offline: "You are offline. Messages you send now go out once the network is back.",
    refused: "The server refused the connection: " + reason,
    closed: "Disconnected." + (reason ? " " + reason : ""),
  }[status];
  banner.textContent = text || "";
  banner.hidden = !text;
}

function updateCount() {
  const n = bytes($("text").value.trim());
  const over = n > MAX_MESSAGE;
  $("count").textContent = n ? `${n} of ${MAX_MESSAGE} bytes` + (over ? ": too long" : "") : "";
  $("count").classList.toggle("over", over);
  $("send").disabled = !current || over;
}

function openSidebar(open) {
  $("sidebar").classList.toggle("open", open);
  $("rooms-toggle").setAttribute("aria-expanded", String(open));
}

function closeSidebar() {
  if ($("sidebar").classList.contains("open")) openSidebar(false);
}

function start(name, list, show) {
  me = name;
  wasOpen = false;
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  $("me").textContent = name;
  $("banner").hidden = true;
  const proto = location.protocol === "https:" ? "wss://" : "ws://";
  sb = new Switchboard(proto + location.host + "/ws?name=" + encodeURIComponent(name), { codec });
  sb.on("status", onStatus);
  sb.on("refused", ({ reason }) => logout("The server refused the connection: " + reason));
  sb.on("message", onMessage);
  sb.on("presence", onPresence);
  sb.on("typing", onTyping);
  sb.on("missed", onMissed);
  // Errors that answer nothing we wait for (a rejoin refused, or the
  // rate limit); the others fail their own promise, and are told there.
  sb.on("error", (p, msg) => {
    if (msg.room) forget(msg.room);
    fail(current, msg.room ? `Could not join #${msg.room} again: ${words(p)}` : words(p));
  });
  for (const room of list) joinRoom(room, false);
  switchTo(show, false);
  $("text").focus();
}

function logout(why) {
  if (sb) sb.close();
  sb = null;
  for (const st of rooms.values()) for (const timer of st.typing.values()) clearTimeout(timer);
  rooms.clear();
  current = null;
  document.title = "Switchboard chat";
  sessionStorage.removeItem("chat");
  history.replaceState(null, "", location.pathname);
  $("chat-view").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = why || "";
  $("name").value = me;
  $("name").focus();
}

$("login").onsubmit = (e) => {
  e.preventDefault();
  const name = $("name").value.trim();
  const room = $("room").value.trim();
  const err = nameError(name) || roomError(room);
  $("login-error").textContent = err;
  if (!err) start(name, [room], room);
};
$("join-form").onsubmit = (e) => {
  e.preventDefault();
  const room = $("join-room").value.trim();
  const err = roomError(room);
  if (err) return fail(current, err);
  $("join-room").value = "";
  joinRoom(room, true);
};
$("say").onsubmit = (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  const room = current;
  if (!text || !room) return;
  const n = bytes(text);
  if (n > MAX_MESSAGE) return fail(room, `That message is ${n} bytes; the limit is ${MAX_MESSAGE}.`);
  $("text").value = "";
  updateCount();
  lastTyping = 0;
  sb.send("message", { text }, { room }).catch((err) => {
    fail(room, "Not sent: " + words(err));
    if (!$("text").value && room === current) {
      $("text").value = text; // to try again
      updateCount();
    }
  });
};
$("text").oninput = () => {
  updateCount();
  const now = Date.now();
  if (current && $("text").value.trim() && now - lastTyping > TYPING_EVERY) {
    lastTyping = now;
    sb.emit("typing", null, { room: current });
  }
};
$("logout").onclick = () => logout("");
$("rooms-toggle").onclick = () => {
  const open = !$("sidebar").classList.contains("open");
  openSidebar(open);
  if (open) $("rooms").querySelector("button")?.focus();
};
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && $("sidebar").classList.contains("open")) {
    openSidebar(false);
    $("rooms-toggle").focus();
  }
});

// A reload keeps the name and the rooms; ?name=ada&room=lobby starts there.
const saved = JSON.parse(sessionStorage.getItem("chat") || "null");
const name = (params.get("name") || (saved && saved.name) || "").trim();
const room = (params.get("room") || (saved && saved.current) || "lobby").trim();
if (name && !nameError(name) && !roomError(room)) {
  const list = saved && saved.name === name ? saved.rooms : [];
  start(name, list.includes(room) ? list : [...list, room], room);
} else {
  $("name").value = name;
  $("login-error").textContent = name ? nameError(name) : "";
  $("name").focus();
}
