// A scripted WebSocket server for the edge cases of switchboard.js that
// the chat server will not produce on demand: a refusal, a connection
// that goes silent, a leave answered late, a new epoch, msgpack frames.
// It speaks just enough of RFC 6455 for one client on 127.0.0.1:
// unfragmented frames, text, binary, close, ping and pong.
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { decode as msgpackDecode, encode as msgpackEncode } from "../static/msgpack.js";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// fakeServer listens on a free loopback port; each connection is handed
// to onConnection as a Conn, and is also in server.conns. choose picks the
// subprotocol from those offered (the first, by default).
export async function fakeServer({ onConnection = () => {}, choose = (offered) => offered[0] } = {}) {
  const conns = [];
  const waiters = [];
  const http = createServer((req, res) => res.writeHead(404).end());
  http.on("upgrade", (req, socket) => {
    const offered = (req.headers["sec-websocket-protocol"] || "").split(",").map((s) => s.trim()).filter(Boolean);
    const protocol = choose(offered);
    const accept = createHash("sha1").update(req.headers["sec-websocket-key"] + GUID).digest("base64");
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${accept}\r\n` +
        (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") +
        "\r\n",
    );
    const conn = new Conn(socket, req.url, protocol);
    conns.push(conn);
    for (const w of waiters.splice(0)) w();
    onConnection(conn);
  });
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address();
  return {
    url: `ws://127.0.0.1:${port}`,
    conns,
    // nextConn resolves with the n-th connection (counting from 0).
    nextConn(n = conns.length) {
      return new Promise((resolve) => {
        const check = () => (conns[n] ? resolve(conns[n]) : waiters.push(check));
        check();
      });
    },
    close() {
      for (const c of conns) c.socket.destroy();
      return new Promise((resolve) => http.close(resolve));
    },
  };
}

class Conn {
  constructor(socket, url, protocol) {
    this.socket = socket;
    this.url = url;
    this.protocol = protocol;
    this.binary = protocol === "switchboard.v1.msgpack";
    this.received = []; // envelopes, in order
    this.taken = new WeakSet(); // those that next has returned
    this.frames = []; // {opcode, data} of every data frame
    this.silent = false;
    this.closedWith = null; // the client's close code
    this.waiters = [];
    this.buf = Buffer.alloc(0);
    this.ended = new Promise((resolve) => socket.on("close", resolve));
    socket.on("data", (d) => this.#data(d));
    socket.on("error", () => {});
  }

  // send sends an envelope in the connection's codec.
  send(msg) {
    if (this.binary) this.frame(2, Buffer.from(msgpackEncode(msg)));
    else this.frame(1, Buffer.from(JSON.stringify(msg)));
  }

  frame(opcode, payload) {
    if (this.silent || this.socket.destroyed) return;
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    if (n >= 126 && n < 65536) {
      head[0] = 0x80 | opcode;
      head[1] = 126;
      head.writeUInt16BE(n, 2);
    } else if (n >= 65536) {
      head[0] = 0x80 | opcode;
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(n), 2);
    }
    this.socket.write(Buffer.concat([head, payload]));
  }

  // close sends a close frame with code and reason, and ends the TCP
  // connection shortly after.
  close(code, reason = "") {
    const p = Buffer.alloc(2 + Buffer.byteLength(reason));
    p.writeUInt16BE(code, 0);
    p.write(reason, 2);
    this.frame(8, p);
    setTimeout(() => this.socket.destroy(), 50);
  }

  // drop ends the TCP connection without a close frame.
  drop() {
    this.socket.destroy();
  }

  // silence makes the connection a black hole: nothing read, nothing
  // written, the TCP connection left open (a network that went away).
  silence() {
    this.silent = true;
  }

  // next resolves with the first envelope received (from now on or
  // already waiting past those taken) that matches pred.
  next(pred = () => true) {
    const i = this.received.findIndex((m) => !this.taken.has(m) && pred(m));
    if (i >= 0) {
      this.taken.add(this.received[i]);
      return Promise.resolve(this.received[i]);
    }
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  // event resolves with the next envelope of the event named name.
  event(name) {
    return this.next((m) => m.event === name);
  }

  #data(d) {
    if (this.silent) return;
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.length < 2) return;
      const opcode = this.buf[0] & 0x0f;
      let n = this.buf[1] & 0x7f;
      let at = 2;
      if (n === 126) {
        if (this.buf.length < 4) return;
        n = this.buf.readUInt16BE(2);
        at = 4;
      } else if (n === 127) {
        if (this.buf.length < 10) return;
        n = Number(this.buf.readBigUInt64BE(2));
        at = 10;
      }
      if (this.buf.length < at + 4 + n) return;
      const mask = this.buf.subarray(at, at + 4);
      const data = Buffer.from(this.buf.subarray(at + 4, at + 4 + n));
      for (let i = 0; i < n; i++) data[i] ^= mask[i % 4];
      this.buf = this.buf.subarray(at + 4 + n);
      this.#frame(opcode, data);
    }
  }

  #frame(opcode, data) {
    if (opcode === 8) {
      this.closedWith = data.length >= 2 ? data.readUInt16BE(0) : 1005;
      this.frame(8, data.subarray(0, 2));
      this.socket.end();
      return;
    }
    if (opcode === 9) return this.frame(10, data);
    if (opcode !== 1 && opcode !== 2) return;
    this.frames.push({ opcode, data });
    let msg;
    try {
      msg = opcode === 2 ? msgpackDecode(data) : JSON.parse(data.toString("utf8"));
    } catch {
      return;
    }
    const i = this.waiters.findIndex((w) => w.pred(msg));
    this.received.push(msg);
    if (i >= 0) {
      this.taken.add(msg);
      this.waiters.splice(i, 1)[0].resolve(msg);
    }
  }
}
