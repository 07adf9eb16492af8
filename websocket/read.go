package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"
	"unicode/utf8"

	gws "github.com/gorilla/websocket"

	"github.com/switchboard-go/switchboard/internal/safemsgpack"
)

// Receive blocks until a message arrives and returns its type and data.
//
// Once the connection has ended it returns a *DisconnectError carrying the
// close code, on this call and every later one. A message bigger than
// Options.ReadLimit closes the connection with StatusMessageTooBig. If ctx
// ends while Receive waits, Receive returns ctx.Err() and the connection is
// closed with StatusGoingAway: a WebSocket cannot resume a read cut in the
// middle. (A ctx that has already ended returns ctx.Err() at once and
// leaves the connection alone.)
// Receive calls from several goroutines are served one at a time.
func (ws *WebSocket) Receive(ctx context.Context) (MessageType, []byte, error) {
	switch ws.State() {
	case StateConnecting:
		return 0, nil, ErrNotAccepted
	case StateClosed:
		return 0, nil, ws.disconnected()
	}
	ws.readMu.Lock()
	defer ws.readMu.Unlock()
	if ws.State() == StateClosed || ws.readBroken {
		ws.awaitDone()
		return 0, nil, ws.disconnected()
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	if ctx == ws.ctx || ctx.Done() == nil {
		// Only the connection's end can cut this read short. (ctx !=
		// ws.ctx is tested first: Done allocates the connection context's
		// channel.)
		typ, data, err := ws.next()
		if err != nil {
			return 0, nil, ws.readFailed(err)
		}
		return typ, data, nil
	}
	return ws.receiveUntil(ctx)
}

// receiveUntil is Receive with a ctx that can end before the connection.
// The caller holds readMu.
func (ws *WebSocket) receiveUntil(ctx context.Context) (MessageType, []byte, error) {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		ws.bc.SetReadDeadline(time.Now()) //nolint:errcheck // the read fails either way
		close(fired)
	})
	typ, data, err := ws.next()
	if !stop() {
		// ctx ended while we read: the read deadline was moved to now.
		<-fired
		if err == nil {
			ws.bc.SetReadDeadline(time.Time{}) //nolint:errcheck
			return typ, data, nil
		}
		ws.readBroken = true
		if ws.State() == StateClosed {
			// The connection ended first (a ctx derived from Context()
			// is cancelled by the teardown itself).
			return 0, nil, ws.disconnected()
		}
		ws.mu.Lock()
		started := ws.startCloseLocked(StatusGoingAway, "", "receive cancelled", true)
		ws.mu.Unlock()
		if started {
			ws.awaitClose(true)
		}
		return 0, nil, ctx.Err()
	}
	if err != nil {
		return 0, nil, ws.readFailed(err)
	}
	return typ, data, nil
}

// next waits for the next message and reads it. It waits in the
// wire.Reader's Await, not in read: while the peer is silent the stack
// stays shallow and no read buffer is held (see package wire).
func (ws *WebSocket) next() (MessageType, []byte, error) {
	if err := ws.rd.Await(); err != nil {
		return 0, nil, err
	}
	return ws.read()
}

var (
	errTooBig = errors.New("websocket: message too big")
	// errNotUTF8 is a text message that is not valid UTF-8.
	errNotUTF8 = errors.New("websocket: text message is not valid UTF-8")
)

// read reads the next data message, enforcing the read limit.
func (ws *WebSocket) read() (MessageType, []byte, error) {
	ws.rd.Lend(&ws.cfg.pools, ws.bc)
	defer ws.rd.Return(&ws.cfg.pools)
	typ, r, err := ws.conn.NextReader()
	if err != nil {
		return 0, nil, err
	}
	ws.lastRead.Store(time.Now().UnixNano())
	ws.activity.Add(1)
	mr := messageReader{r: r, left: -1, text: typ == gws.TextMessage}
	if limit := ws.cfg.readLimit; limit >= 0 {
		mr.left = limit + 1
	}
	data, err := io.ReadAll(&mr)
	if err == nil && mr.left == 0 {
		err = errTooBig
	}
	if err == nil {
		ws.cfg.metrics.MessageIn(len(data))
	}
	return MessageType(typ), data, err
}

// messageReader reads one message for io.ReadAll. It stops one byte past
// the read limit, as an io.LimitedReader would, and in a text message it
// checks UTF-8 as the bytes arrive: it fails (errNotUTF8) at the first
// read that brings a byte no later bytes could make valid, so that a peer
// sending an invalid text message is failed at once, not when it ends the
// message, which it may never do. A character split across fragments or
// reads is checked as one.
type messageReader struct {
	r    io.Reader
	left int64 // bytes it may still read; -1: no limit
	text bool
	// The start of a character not yet complete, held over from the
	// previous read.
	tail  [utf8.UTFMax - 1]byte
	ntail int
}

func (m *messageReader) Read(p []byte) (int, error) {
	if m.left == 0 {
		return 0, io.EOF
	}
	if m.left > 0 && int64(len(p)) > m.left {
		p = p[:m.left]
	}
	n, err := m.r.Read(p)
	if m.left > 0 {
		m.left -= int64(n)
	}
	if m.text {
		if n > 0 && !m.check(p[:n]) {
			return n, errNotUTF8
		}
		if err == io.EOF && m.ntail > 0 {
			return n, errNotUTF8 // the message ends inside a character
		}
	}
	return n, err
}

// check checks the next bytes of a text message.
func (m *messageReader) check(p []byte) bool {
	if m.ntail > 0 {
		// Complete the character begun in the previous read.
		var b [utf8.UTFMax]byte
		k := copy(b[:], m.tail[:m.ntail])
		k += copy(b[k:], p)
		if !utf8.FullRune(b[:k]) {
			m.ntail = copy(m.tail[:], b[:k]) // still incomplete, still valid
			return true
		}
		r, size := utf8.DecodeRune(b[:k])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		p = p[size-m.ntail:]
		m.ntail = 0
	}
	// An incomplete character at the end is at most UTFMax-1 bytes;
	// FullRune is false only for the start of a valid encoding that
	// needs more bytes.
	end := len(p)
	for k := 1; k < utf8.UTFMax && k <= len(p); k++ {
		if utf8.RuneStart(p[len(p)-k]) {
			if !utf8.FullRune(p[len(p)-k:]) {
				end = len(p) - k
			}
			break
		}
	}
	if !utf8.Valid(p[:end]) {
		return false
	}
	m.ntail = copy(m.tail[:], p[end:])
	return true
}

// readFailed turns a read error into the connection's disconnect error,
// finishing the close as needed. The caller holds readMu.
func (ws *WebSocket) readFailed(err error) error {
	var code StatusCode
	var sendReason, reportReason string
	var ce *gws.CloseError
	if errors.As(err, &ce) && ce.Code == int(StatusAbnormalClosure) {
		ce = nil // gorilla's stand-in for a connection cut mid-frame, not a close frame
	}
	switch {
	case ce != nil && ws.rd.BadClose:
		// A close frame with a 1-byte payload, which gorilla took for one
		// without a code: fail the connection. The frame is read, so the
		// close handshake waits for nothing more from the peer.
		ws.readBroken = true
		code, sendReason = StatusProtocolError, "invalid close frame payload"
		reportReason = sendReason
	case ce != nil:
		// The peer's close frame: echo its code and reason, unless we closed first.
		code, sendReason, reportReason = StatusCode(ce.Code), ce.Text, ce.Text
	case errors.Is(err, errTooBig):
		ws.readBroken = true
		code, sendReason = StatusMessageTooBig, "message too big"
		reportReason = sendReason
	case errors.Is(err, errNotUTF8):
		// The stream is intact: reading stopped inside the message at
		// the first invalid byte, and gorilla skips the rest of it when
		// the close handshake reads on for the peer's close frame.
		code, sendReason = StatusInvalidPayload, "invalid UTF-8 in a text message"
		reportReason = sendReason
	case errors.Is(err, gws.ErrReadLimit):
		// gorilla's word for a frame length with its top bit set, or
		// lengths that overflow an int64 together (we set no read limit
		// on it): RFC 6455 section 5.2 forbids the first. It sends no
		// close frame; we do. The stream is lost mid-frame.
		ws.readBroken = true
		code, sendReason = StatusProtocolError, "invalid frame length"
		reportReason = sendReason
	default:
		// The network failed, or gorilla saw a protocol violation (and sent
		// its own close frame).
		ws.readBroken = true
		code = StatusAbnormalClosure
		if ce, ok := ws.bc.Failed(); ok {
			code, reportReason = StatusCode(ce.Code), ce.Reason
		}
		ws.mu.Lock()
		if !ws.closing {
			ws.closing = true
			ws.closeCode, ws.closeReason = code, reportReason
		}
		ws.mu.Unlock()
		ws.teardown()
		return ws.disconnected()
	}
	ws.mu.Lock()
	started := ws.startCloseLocked(code, sendReason, reportReason, false)
	ws.mu.Unlock()
	if started {
		ws.awaitClose(true)
	} else if ce != nil {
		// We closed first and this is the peer's answer.
		ws.mu.Lock()
		written := ws.closeWritten
		ws.mu.Unlock()
		if written != nil {
			t := time.NewTimer(ws.cfg.closeTimeout)
			select {
			case <-written:
			case <-ws.ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		ws.teardown()
	} else {
		ws.awaitDone()
	}
	return ws.disconnected()
}

// ReceiveText receives a text message. A binary message is consumed and
// reported as a *MessageTypeError; the connection stays usable. See Receive.
func (ws *WebSocket) ReceiveText(ctx context.Context) (string, error) {
	data, err := ws.receiveType(ctx, TextMessage)
	return string(data), err
}

// ReceiveBytes receives a binary message. A text message is consumed and
// reported as a *MessageTypeError. See Receive.
func (ws *WebSocket) ReceiveBytes(ctx context.Context) ([]byte, error) {
	return ws.receiveType(ctx, BinaryMessage)
}

// ReceiveJSON receives a text message and decodes it as JSON into v. A
// message that does not decode is reported as a *DecodeError; the
// connection stays usable and the handler decides what to do.
func (ws *WebSocket) ReceiveJSON(ctx context.Context, v any) error {
	data, err := ws.receiveType(ctx, TextMessage)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return &DecodeError{Codec: "json", Err: err}
	}
	return nil
}

// ReceiveMsgpack receives a binary message and decodes it as msgpack into
// v. See ReceiveJSON. A message whose declared lengths claim more than its
// bytes, or that nests deeper than 32 levels, is a *DecodeError before
// anything is allocated for it. A struct field without a msgpack tag is
// matched by its json tag (SendMsgpack encodes it so too).
func (ws *WebSocket) ReceiveMsgpack(ctx context.Context, v any) error {
	data, err := ws.receiveType(ctx, BinaryMessage)
	if err != nil {
		return err
	}
	if err := safemsgpack.Unmarshal(data, v); err != nil {
		return &DecodeError{Codec: "msgpack", Err: err}
	}
	return nil
}

func (ws *WebSocket) receiveType(ctx context.Context, want MessageType) ([]byte, error) {
	typ, data, err := ws.Receive(ctx)
	if err != nil {
		return nil, err
	}
	if typ != want {
		return nil, &MessageTypeError{Want: want, Got: typ}
	}
	return data, nil
}
