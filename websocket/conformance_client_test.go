package websocket_test

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The conformance suite's client: raw frames over a real socket, and a
// reader that records what the server sends back as events, the way
// Autobahn's fuzzing client does.

// wireFrame is one client frame as the suite writes it: any reserved bits,
// any opcode, always masked.
type wireFrame struct {
	op      byte
	fin     bool
	rsv     byte // the three reserved bits, 0 to 7
	payload []byte
}

func (f wireFrame) bytes() []byte {
	b := clientFrame(f.op, f.fin, f.payload)
	b[0] |= f.rsv << 4
	return b
}

func textFrame(s string) wireFrame { return wireFrame{op: 0x1, fin: true, payload: []byte(s)} }

// event is one thing the client saw, in order: an echoed message, a pong,
// or a wait that ran out while the connection was still open.
type event struct {
	kind   string // "message", "pong" or "timeout"
	data   string
	binary bool
}

func (e event) String() string {
	d := e.data
	if len(d) > 24 {
		d = fmt.Sprintf("%d bytes", len(d))
	} else {
		d = fmt.Sprintf("%q", d)
	}
	if e.kind == "message" && e.binary {
		return "binary " + d
	}
	return e.kind + " " + d
}

func msgEvent(s string) event     { return event{kind: "message", data: s} }
func binEvent(b []byte) event     { return event{kind: "message", data: string(b), binary: true} }
func pongEvent(s string) event    { return event{kind: "pong", data: s} }
func timeoutEvent(s string) event { return event{kind: "timeout", data: s} }

// session is one connection of the suite to the server.
type session struct {
	c   net.Conn
	br  *bufio.Reader
	wmu sync.Mutex // one frame written at a time

	// permessage-deflate as the server's response settled it.
	deflate          bool
	serverTakeover   bool // the server keeps its compression context across messages
	extensionAnswer  string
	offerNotHonoured string // a parameter of the offer that the answer ignored

	mu         sync.Mutex
	events     []event
	changed    chan struct{} // closed and replaced at every change
	gotClose   bool          // the server's close frame arrived
	closeCode  int           // its code; 0 when it had none
	sentClose  bool
	closedByMe bool // the client sent its close frame first
	protoErr   string
	eof        chan struct{} // closed when the server's side of the stream ended
	dict       []byte        // the server's compression context, when it keeps one
}

// dialSession connects to addr, offers extensions (if any), and starts the
// reader.
func dialSession(addr, extensions string) (*session, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if extensions != "" {
		req.Header.Set("Sec-WebSocket-Extensions", extensions)
	}
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, err
	}
	s := &session{c: c, br: bufio.NewReader(c), changed: make(chan struct{}), eof: make(chan struct{})}
	resp, err := http.ReadResponse(s.br, req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("handshake: %v %v", resp, err)
	}
	if err := s.negotiate(extensions, resp.Header.Get("Sec-WebSocket-Extensions")); err != nil {
		c.Close()
		return nil, err
	}
	go s.readLoop()
	return s, nil
}

// negotiate checks the server's permessage-deflate answer against the
// offer (RFC 7692 section 7).
func (s *session) negotiate(offer, answer string) error {
	s.extensionAnswer = answer
	if answer == "" {
		return nil
	}
	if offer == "" {
		return fmt.Errorf("extension %q answered without an offer", answer)
	}
	params := strings.Split(answer, ";")
	if strings.TrimSpace(params[0]) != "permessage-deflate" || strings.Contains(answer, ",") {
		return fmt.Errorf("extension answer %q", answer)
	}
	s.deflate, s.serverTakeover = true, true
	for _, p := range params[1:] {
		name, _, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "server_no_context_takeover":
			s.serverTakeover = false
		case "client_no_context_takeover":
			// The client compresses every message on its own anyway.
		case "server_max_window_bits", "client_max_window_bits":
			if name == "client_max_window_bits" && !strings.Contains(offer, name) {
				return fmt.Errorf("answer %q sets client_max_window_bits, which the offer did not allow", answer)
			}
		default:
			return fmt.Errorf("answer %q has unknown parameter %q", answer, name)
		}
	}
	// Every offer that asked for server_max_window_bits must get it back
	// (RFC 7692 section 7.1.2.1), unless another offer was taken.
	for _, o := range strings.Split(offer, ",") {
		if !strings.Contains(o, "server_max_window_bits") {
			return nil // an offer the answer fits as it is
		}
	}
	if !strings.Contains(answer, "server_max_window_bits") {
		s.offerNotHonoured = "server_max_window_bits"
	}
	return nil
}

func (s *session) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *session) record(e event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.notify()
	s.mu.Unlock()
}

func (s *session) broke(format string, args ...any) {
	s.mu.Lock()
	if s.protoErr == "" {
		s.protoErr = fmt.Sprintf(format, args...)
	}
	s.mu.Unlock()
}

// readLoop reads the server's frames until the stream ends. It answers a
// ping and the server's close frame as a client must.
func (s *session) readLoop() {
	defer func() {
		s.mu.Lock()
		close(s.eof)
		s.notify()
		s.mu.Unlock()
	}()
	var msg []byte
	var msgOp byte
	var compressed, inMessage bool
	for {
		var h [2]byte
		if _, err := io.ReadFull(s.br, h[:]); err != nil {
			return
		}
		fin, rsv, op := h[0]&0x80 != 0, h[0]>>4&7, h[0]&0x0f
		if h[1]&0x80 != 0 {
			s.broke("the server masked a frame")
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var l [2]byte
			if _, err := io.ReadFull(s.br, l[:]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			if _, err := io.ReadFull(s.br, l[:]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(l[:])
		}
		if n > 64<<20 {
			s.broke("the server sent a frame of %d bytes", n)
			return
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(s.br, payload); err != nil {
			return
		}
		if op >= 0x8 {
			if !fin || n > 125 || rsv != 0 {
				s.broke("the server sent a malformed control frame")
			}
		} else if rsv != 0 && !(rsv == 4 && s.deflate && op != 0) {
			s.broke("the server set reserved bits %d on opcode %d", rsv, op)
		}
		switch op {
		case 0x0:
			if !inMessage {
				s.broke("the server sent a continuation frame outside a message")
			}
			msg = append(msg, payload...)
		case 0x1, 0x2:
			if inMessage {
				s.broke("the server began a message inside another")
			}
			msg, msgOp, compressed, inMessage = payload, op, rsv == 4, true
		case 0x8:
			s.onClose(payload)
			continue
		case 0x9:
			s.write(wireFrame{op: 0xA, fin: true, payload: payload}.bytes())
			continue
		case 0xA:
			s.record(pongEvent(string(payload)))
			continue
		default:
			s.broke("the server sent opcode %d", op)
			continue
		}
		if !fin {
			continue
		}
		inMessage = false
		if compressed {
			var err error
			if msg, err = s.inflate(msg); err != nil {
				s.broke("the server sent a message that does not inflate: %v", err)
				continue
			}
		}
		if msgOp == 0x1 && !utf8.Valid(msg) {
			s.broke("the server sent a text message that is not UTF-8")
		}
		s.record(event{kind: "message", data: string(msg), binary: msgOp == 0x2})
	}
}

// onClose records the server's close frame and answers it, unless the
// client closed first.
func (s *session) onClose(p []byte) {
	s.mu.Lock()
	s.gotClose = true
	if len(p) >= 2 {
		s.closeCode = int(binary.BigEndian.Uint16(p))
	}
	answer := !s.sentClose
	s.sentClose = true
	s.notify()
	s.mu.Unlock()
	if len(p) == 1 || len(p) > 125 || (len(p) > 2 && !utf8.Valid(p[2:])) {
		s.broke("the server sent a malformed close frame")
	}
	if answer {
		var code []byte
		if len(p) >= 2 {
			code = p[:2]
		}
		s.write(wireFrame{op: 0x8, fin: true, payload: code}.bytes())
	}
}

func (s *session) inflate(p []byte) ([]byte, error) {
	var r io.ReadCloser
	in := io.MultiReader(bytes.NewReader(p), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff"))
	if s.serverTakeover {
		r = flate.NewReaderDict(in, s.dict)
	} else {
		r = flate.NewReader(in)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if s.serverTakeover {
		s.dict = append(s.dict, out...)
		if len(s.dict) > 32<<10 {
			s.dict = s.dict[len(s.dict)-32<<10:]
		}
	}
	return out, nil
}

// deflateMessage compresses p as one permessage-deflate message: a fresh
// context each time, the closing empty block removed.
func deflateMessage(p []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0x00, 0x00, 0xff, 0xff})
}

// write writes b whole; a failed write is no error to the suite (the
// server may have failed the connection), what the server answered is.
func (s *session) write(b []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.c.Write(b)
}

// send writes each frame in a write of its own.
func (s *session) send(frames ...wireFrame) {
	for _, f := range frames {
		s.write(f.bytes())
	}
}

// sendBatch writes the frames in one write.
func (s *session) sendBatch(frames ...wireFrame) {
	var b []byte
	for _, f := range frames {
		b = append(b, f.bytes()...)
	}
	s.write(b)
}

// sendChopped writes the frames in pieces of chop bytes, each its own
// write with a pause, so that the server reads them apart.
func (s *session) sendChopped(chop int, frames ...wireFrame) {
	for _, f := range frames {
		b := f.bytes()
		for len(b) > 0 {
			n := min(chop, len(b))
			s.write(b[:n])
			b = b[n:]
			if chop < 16 {
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// sendMessage sends a text or binary message, compressed when deflate
// was negotiated, in fragments of frag bytes (0: one frame).
func (s *session) sendMessage(op byte, p []byte, frag int) {
	rsv := byte(0)
	if s.deflate {
		p, rsv = deflateMessage(p), 4
	}
	if frag <= 0 || frag >= len(p) {
		s.write(wireFrame{op: op, fin: true, rsv: rsv, payload: p}.bytes())
		return
	}
	var b []byte
	for i := 0; i < len(p); i += frag {
		f := wireFrame{op: 0, payload: p[i:min(i+frag, len(p))], fin: i+frag >= len(p)}
		if i == 0 {
			f.op, f.rsv = op, rsv
		}
		b = append(b, f.bytes()...)
	}
	s.write(b)
}

// closed reports whether the server has closed or dropped the connection.
func (s *session) closedLocked() bool {
	select {
	case <-s.eof:
		return true
	default:
		return s.gotClose
	}
}

// wait waits d, or less if the server closes the connection first. If it
// has not, it records a timeout event named marker and reports true.
func (s *session) wait(d time.Duration, marker string) bool {
	if s.waitFor(time.Now().Add(d), s.closedLocked) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closedLocked() {
		return false
	}
	s.events = append(s.events, timeoutEvent(marker))
	return true
}

// waitFor waits until cond holds or the deadline passes; it reports cond.
func (s *session) waitFor(deadline time.Time, cond func() bool) bool {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		d := time.Until(deadline)
		if d <= 0 {
			return false
		}
		t := time.NewTimer(d)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

// closeNormally starts the closing handshake with 1000, unless the
// server has closed already.
func (s *session) closeNormally() {
	s.mu.Lock()
	first := !s.sentClose && !s.closedLocked()
	s.sentClose = s.sentClose || first
	s.closedByMe = s.closedByMe || first
	s.mu.Unlock()
	if first {
		s.write(wireFrame{op: 0x8, fin: true, payload: []byte{0x03, 0xe8}}.bytes())
	}
}

// sentCloseFirst marks that the case itself sent a close frame.
func (s *session) sentCloseFirst() {
	s.mu.Lock()
	if !s.sentClose && !s.closedLocked() {
		s.sentClose, s.closedByMe = true, true
	}
	s.mu.Unlock()
}

var errNoEOF = errors.New("the server did not close the TCP connection")

// drain waits for the server to end the stream, at most until deadline,
// and closes the socket.
func (s *session) drain(deadline time.Time) error {
	defer s.c.Close()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-s.eof:
		return nil
	case <-t.C:
		s.c.Close()
		<-s.eof
		return errNoEOF
	}
}
